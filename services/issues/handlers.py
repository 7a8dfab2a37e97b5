"""The issues service's use cases: one handler per command."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from shared.contracts.common import Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, NotFound
from shared.contracts.fixes import FixEvent
from shared.contracts.issues import (
    CreateIssue,
    CreateIssueResult,
    DeleteIssue,
    DeleteIssueResult,
    GetIssue,
    IssueDetail,
    IssueSummary,
    ListIssues,
    UpdateIssue,
)
from shared.messaging.commands import CommandContext
from shared.messaging.outbox import PendingEvents, envelopes
from shared.messaging.idempotency import create_once
from shared.messaging.mongo import ConcurrentUpdate, Creation
from services.issues.adapters.repository import IssueRepository
from services.issues.domain.model import FixState, Issue, new_issue_id

UPDATE_ATTEMPTS = 5
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    issues: IssueRepository
    notify: Callable[[PendingEvents], None]
    clock: Callable[[], datetime] = utc_now


async def create_issue(command: CreateIssue, ctx: CommandContext, deps: Dependencies) -> CreateIssueResult:
    outbox: list[Envelope] = []

    async def insert(issue: Issue, creation: Creation) -> None:
        outbox[:] = envelopes(issue.events, ctx)
        await deps.issues.add(issue, creation, outbox)

    issue, response = await create_once(
        ctx.command_id,
        command,
        build=lambda: Issue.open(new_issue_id(), ctx.workspace, command, deps.clock()),
        respond=lambda issue: issue.summary().to_wire(),
        insert=insert,
    )
    if issue is not None:
        deps.notify(PendingEvents(issue.id, outbox))
    return CreateIssueResult(issue=IssueSummary.model_validate(response), replayed=issue is None)


async def get_issue(command: GetIssue, ctx: CommandContext, deps: Dependencies) -> IssueDetail:
    return (await _existing(deps, ctx, command.issue_id)).detail()


async def list_issues(command: ListIssues, ctx: CommandContext, deps: Dependencies) -> Page[IssueSummary]:
    issues, total = await deps.issues.find_page(ctx.workspace, command)
    return Page[IssueSummary](
        items=[issue.summary() for issue in issues], page=command.page, limit=command.limit, total=total
    )


async def update_issue(command: UpdateIssue, ctx: CommandContext, deps: Dependencies) -> IssueSummary:
    for _ in range(UPDATE_ATTEMPTS):
        issue = await _existing(deps, ctx, command.issue_id)
        if issue.has_applied(ctx.command_id):
            return issue.summary()
        issue.apply(command.patch, deps.clock(), ctx.command_id)
        if await _saved(deps, ctx, issue):
            return issue.summary()
    raise Conflict(f"Issue {command.issue_id} is being changed by other requests; try again")


async def delete_issue(command: DeleteIssue, ctx: CommandContext, deps: Dependencies) -> DeleteIssueResult:
    for _ in range(UPDATE_ATTEMPTS):
        issue = await _existing(deps, ctx, command.issue_id)
        issue.delete(deps.clock(), ctx.command_id)
        if await _saved(deps, ctx, issue):
            return DeleteIssueResult(issue_id=issue.id)
    raise Conflict(f"Issue {command.issue_id} is being changed by other requests; try again")


async def on_fix_changed(event: FixEvent, envelope: Envelope, deps: Dependencies) -> None:
    """Keeps the issue's summary of the fix, and the status derived from its fixes, current."""
    if event.fix.issue_id is None:
        return
    news = FixState(event.fix.id, event.fix.type, event.fix.status, event.version)
    ctx = CommandContext.of(envelope)
    for _ in range(UPDATE_ATTEMPTS):
        issue = await deps.issues.get(envelope.workspace, event.fix.issue_id)
        if issue is None:
            log.info("fix event for an issue that is gone; ignored", issue_id=event.fix.issue_id, fix_id=event.fix.id)
            return
        issue.record_fix(news, deps.clock(), envelope.message_id)
        if not issue.events or await _saved(deps, ctx, issue):
            return
    raise ConcurrentUpdate(event.fix.issue_id)


async def _existing(deps: Dependencies, ctx: CommandContext, issue_id: str) -> Issue:
    issue = await deps.issues.get(ctx.workspace, issue_id)
    if issue is None:
        raise NotFound(f"Issue {issue_id} not found")
    return issue


async def _saved(deps: Dependencies, ctx: CommandContext, issue: Issue) -> bool:
    outbox = envelopes(issue.events, ctx)
    try:
        await deps.issues.save(issue, outbox)
    except ConcurrentUpdate:
        return False
    deps.notify(PendingEvents(issue.id, outbox))
    return True
