"""The issues service's use cases: one handler per command."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.common import Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, NotFound
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
from shared.messaging.outbox import PendingEvents
from shared.messaging.mongo import AlreadyCreated, ConcurrentUpdate, Creation, IdTaken
from services.issues.adapters.repository import IssueRepository
from services.issues.domain.model import Issue, new_issue_id

ID_ATTEMPTS = 5
UPDATE_ATTEMPTS = 5


@dataclass(frozen=True)
class Dependencies:
    issues: IssueRepository
    notify: Callable[[PendingEvents], None]
    clock: Callable[[], datetime] = utc_now


async def create_issue(command: CreateIssue, ctx: CommandContext, deps: Dependencies) -> CreateIssueResult:
    fingerprint = _fingerprint(command)
    for _ in range(ID_ATTEMPTS):
        issue = Issue.open(new_issue_id(), ctx.workspace, command, deps.clock())
        response = issue.summary()
        outbox = _envelopes(issue, ctx)
        try:
            await deps.issues.add(issue, Creation(ctx.command_id, fingerprint, response.to_wire()), outbox)
        except IdTaken:
            continue
        except AlreadyCreated as seen:
            if seen.creation.fingerprint != fingerprint:
                raise Conflict("This Idempotency-Key was already used with a different request body") from None
            return CreateIssueResult(issue=IssueSummary.model_validate(seen.creation.response), replayed=True)
        deps.notify(PendingEvents(issue.id, outbox))
        return CreateIssueResult(issue=response, replayed=False)
    raise RuntimeError(f"no free issue id after {ID_ATTEMPTS} attempts")


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


async def _existing(deps: Dependencies, ctx: CommandContext, issue_id: str) -> Issue:
    issue = await deps.issues.get(ctx.workspace, issue_id)
    if issue is None:
        raise NotFound(f"Issue {issue_id} not found")
    return issue


async def _saved(deps: Dependencies, ctx: CommandContext, issue: Issue) -> bool:
    outbox = _envelopes(issue, ctx)
    try:
        await deps.issues.save(issue, outbox)
    except ConcurrentUpdate:
        return False
    deps.notify(PendingEvents(issue.id, outbox))
    return True


def _envelopes(issue: Issue, ctx: CommandContext) -> list[Envelope]:
    return [
        Envelope(
            type=event.routing_key,
            workspace=ctx.workspace,
            correlation_id=ctx.correlation_id,
            actor=ctx.actor,
            payload=event.to_wire(),
        )
        for event in issue.events
    ]


def _fingerprint(command: CreateIssue) -> str:
    canonical = json.dumps(command.to_wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
