"""The fixes service's use cases: one handler per command, and its reaction to issue events."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.fixes.domain.model import Fix, ShadowTestState, checked_changes, new_fix_id
from services.fixes.ports import DeletedIssues, FixRepository, IssueDirectory
from shared.contracts.common import FIRST_VERSION, Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import NotFound
from shared.contracts.fixes import (
    CreateFix,
    CreateFixResult,
    FixDetail,
    FixView,
    GetFix,
    GetFixResult,
    ListFixes,
    UpdateFix,
    UpdateFixResult,
)
from shared.contracts.issues import IssueDeleted
from shared.contracts.shadow_tests import ShadowTestEvent
from shared.messaging.commands import CommandContext
from shared.store.creation import replay
from shared.store.unit_of_work import Aggregates, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Built by `bootstrap.build`; `work` stores the fixes the handlers change."""

    fixes: FixRepository
    deleted_issues: DeletedIssues
    issues: IssueDirectory
    work: Aggregates[Fix]
    clock: Callable[[], datetime] = utc_now


async def create_fix(command: CreateFix, ctx: CommandContext, deps: Dependencies) -> CreateFixResult:
    """Creates a draft fix for an issue of the caller's workspace.

    The issue is checked with the issues service first. If the issue is deleted between that
    check and the insert, either the `issue.deleted` handler finds the new fix, or the fix
    finds the deletion recorded here afterwards: it ends detached either way."""
    if seen := await deps.fixes.find_creation(ctx.workspace, ctx.command_id):
        return CreateFixResult(fix=FixDetail.model_validate(replay(seen, command)), replayed=True,
                               version=FIRST_VERSION)
    checked_changes(command.type, command.changes)
    if not await deps.issues.exists(ctx, command.issue_id):
        raise NotFound(f"Issue {command.issue_id} not found")

    fix, response = await deps.work.create(
        ctx,
        command,
        build=lambda: Fix.draft(new_fix_id(), ctx.workspace, command, ctx.actor or "unknown", deps.clock()),
        respond=lambda fix: fix.detail().to_wire(),
    )
    if fix is None:
        return CreateFixResult(fix=FixDetail.model_validate(response), replayed=True, version=FIRST_VERSION)
    if await deps.deleted_issues.contains(ctx.workspace, command.issue_id):
        fix = await _detach(deps, ctx, fix.id)
        return CreateFixResult(fix=fix.detail(), replayed=False, version=fix.version)
    return CreateFixResult(fix=FixDetail.model_validate(response), replayed=False, version=fix.version)


async def get_fix(command: GetFix, ctx: CommandContext, deps: Dependencies) -> GetFixResult:
    fix = await deps.work.read(ctx, command.fix_id)
    return GetFixResult(fix=fix.detail(), version=fix.version)


async def list_fixes(command: ListFixes, ctx: CommandContext, deps: Dependencies) -> Page[FixView]:
    fixes, total = await deps.fixes.find_page(ctx.workspace, command)
    return Page[FixView](items=[fix.view() for fix in fixes], page=command.page, limit=command.limit, total=total)


async def update_fix(command: UpdateFix, ctx: CommandContext, deps: Dependencies) -> UpdateFixResult:
    """As `update_issue` in the issues service: a conditional update is checked against the
    version each attempt reads; a redelivered command answers with the fix as it is."""

    async def work(unit: UnitOfWork[Fix]) -> UpdateFixResult:
        fix = await unit.existing(command.fix_id)
        if not fix.has_applied(ctx.command_id):
            fix.require_version(command.expected_versions, "Fix")
            fix.edit(command.patch, deps.clock(), ctx.command_id)
        return UpdateFixResult(fix=fix.view(), version=fix.version)

    return await deps.work.change(ctx, work, f"Fix {command.fix_id}")


async def on_issue_deleted(event: IssueDeleted, envelope: Envelope, deps: Dependencies) -> None:
    """The issue's fixes stay, belonging to no issue. The deletion is recorded first, for
    `create_fix` to see."""
    await deps.deleted_issues.record(envelope.workspace, event.issue_id)
    ctx = CommandContext.of(envelope)
    for fix_id in await deps.fixes.ids_for_issue(envelope.workspace, event.issue_id):
        await _detach(deps, ctx, fix_id)


async def on_shadow_test_changed(event: ShadowTestEvent, envelope: Envelope, deps: Dependencies) -> None:
    """Keeps the fix's summary of its shadow tests current (a completed test's recommendation
    included); a new test moves it to testing."""
    results = event.test.results
    news = ShadowTestState(event.test.id, event.test.status, results.improvement_rate, event.version,
                           results.recommendation)
    ctx = CommandContext.of(envelope)

    async def work(unit: UnitOfWork[Fix]) -> None:
        fix = await unit.get(event.test.fix_id)
        if fix is not None:
            fix.record_shadow_test(news, deps.clock(), envelope.message_id)

    await deps.work.change(ctx, work, f"Fix {event.test.fix_id}")


async def _detach(deps: Dependencies, ctx: CommandContext, fix_id: str) -> Fix:
    async def work(unit: UnitOfWork[Fix]) -> Fix:
        fix = await unit.existing(fix_id)
        fix.detach(deps.clock(), ctx.command_id)
        return fix

    return await deps.work.change(ctx, work, f"Fix {fix_id}")

