"""The fixes service's use cases: one handler per command, and its reaction to issue events."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.common import Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, NotFound
from shared.contracts.fixes import CreateFix, CreateFixResult, FixDetail, FixView, GetFix, ListFixes, UpdateFix
from shared.contracts.issues import IssueDeleted
from shared.messaging.commands import CommandContext
from shared.messaging.idempotency import create_once, replay
from shared.messaging.mongo import ConcurrentUpdate, Creation
from shared.messaging.outbox import PendingEvents, envelopes
from services.fixes.adapters.repository import DeletedIssues, FixRepository, IssueDirectory
from services.fixes.domain.model import Fix, checked_changes, new_fix_id

UPDATE_ATTEMPTS = 5


@dataclass(frozen=True)
class Dependencies:
    fixes: FixRepository
    deleted_issues: DeletedIssues
    issues: IssueDirectory
    notify: Callable[[PendingEvents], None]
    clock: Callable[[], datetime] = utc_now


async def create_fix(command: CreateFix, ctx: CommandContext, deps: Dependencies) -> CreateFixResult:
    if seen := await deps.fixes.find_creation(ctx.workspace, ctx.command_id):
        return CreateFixResult(fix=FixDetail.model_validate(replay(seen, command)), replayed=True)
    checked_changes(command.type, command.changes)
    if not await deps.issues.exists(ctx, command.issue_id):
        raise NotFound(f"Issue {command.issue_id} not found")
    outbox: list[Envelope] = []

    async def insert(fix: Fix, creation: Creation) -> None:
        outbox[:] = envelopes(fix.events, ctx)
        await deps.fixes.add(fix, creation, outbox)

    fix, response = await create_once(
        ctx.command_id,
        command,
        build=lambda: Fix.draft(new_fix_id(), ctx.workspace, command, ctx.actor or "unknown", deps.clock()),
        respond=lambda fix: fix.detail().to_wire(),
        insert=insert,
    )
    if fix is None:
        return CreateFixResult(fix=FixDetail.model_validate(response), replayed=True)
    deps.notify(PendingEvents(fix.id, outbox))
    if await deps.deleted_issues.contains(ctx.workspace, command.issue_id):
        fix = await _detach(deps, ctx.workspace, fix.id, ctx.command_id + ":detach", ctx)
        return CreateFixResult(fix=fix.detail(), replayed=False)
    return CreateFixResult(fix=FixDetail.model_validate(response), replayed=False)


async def get_fix(command: GetFix, ctx: CommandContext, deps: Dependencies) -> FixDetail:
    return (await _existing(deps, ctx.workspace, command.fix_id)).detail()


async def list_fixes(command: ListFixes, ctx: CommandContext, deps: Dependencies) -> Page[FixView]:
    fixes, total = await deps.fixes.find_page(ctx.workspace, command)
    return Page[FixView](items=[fix.view() for fix in fixes], page=command.page, limit=command.limit, total=total)


async def update_fix(command: UpdateFix, ctx: CommandContext, deps: Dependencies) -> FixView:
    for _ in range(UPDATE_ATTEMPTS):
        fix = await _existing(deps, ctx.workspace, command.fix_id)
        if fix.has_applied(ctx.command_id):
            return fix.view()
        fix.edit(command.patch, deps.clock(), ctx.command_id)
        if not fix.events or await _saved(deps, ctx, fix):
            return fix.view()
    raise Conflict(f"Fix {command.fix_id} is being changed by other requests; try again")


async def on_issue_deleted(event: IssueDeleted, envelope: Envelope, deps: Dependencies) -> None:
    """The issue's fixes stay, belonging to no issue. Recording the deletion first closes the
    race with a fix being created for that issue at the same moment (see `create_fix`)."""
    await deps.deleted_issues.record(envelope.workspace, event.issue_id)
    ctx = CommandContext.of(envelope)
    for fix_id in await deps.fixes.ids_for_issue(envelope.workspace, event.issue_id):
        await _detach(deps, envelope.workspace, fix_id, envelope.message_id, ctx)


async def _detach(deps: Dependencies, workspace: str, fix_id: str, command_id: str, ctx: CommandContext) -> Fix:
    for _ in range(UPDATE_ATTEMPTS):
        fix = await _existing(deps, workspace, fix_id)
        fix.detach(deps.clock(), command_id)
        if not fix.events or await _saved(deps, ctx, fix):
            return fix
    raise Conflict(f"Fix {fix_id} is being changed by other requests; try again")


async def _existing(deps: Dependencies, workspace: str, fix_id: str) -> Fix:
    fix = await deps.fixes.get(workspace, fix_id)
    if fix is None:
        raise NotFound(f"Fix {fix_id} not found")
    return fix


async def _saved(deps: Dependencies, ctx: CommandContext, fix: Fix) -> bool:
    outbox = envelopes(fix.events, ctx)
    try:
        await deps.fixes.save(fix, outbox)
    except ConcurrentUpdate:
        return False
    deps.notify(PendingEvents(fix.id, outbox))
    return True
