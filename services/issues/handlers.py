"""The issues service's use cases: one handler per command, and its reaction to fix events."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.issues.domain.model import FixState, Issue, ShadowTestState, new_issue_id
from services.issues.ports import IssueRepository, ShadowTestDirectory, TraceFacts
from shared.contracts.common import FIRST_VERSION, Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import ExpectedError, NotFound
from shared.contracts.fixes import FixEvent
from shared.contracts.issues import (
    AttachTraces,
    AttachTracesResult,
    CreateIssue,
    CreateIssueResult,
    DeleteIssue,
    DeleteIssueResult,
    GetIssue,
    GetIssueResult,
    IssueSummary,
    ListIssues,
    UpdateIssue,
    UpdateIssueResult,
)
from shared.contracts.shadow_tests import ShadowTestEvent
from shared.contracts.traces import TracesIngested
from shared.messaging.commands import CommandContext
from shared.store.unit_of_work import Aggregates, UnitOfWork

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    """Built by `bootstrap.build`; `work` stores the issues the handlers change."""

    issues: IssueRepository
    trace_facts: TraceFacts
    shadow_tests: ShadowTestDirectory
    work: Aggregates[Issue]
    clock: Callable[[], datetime] = utc_now


async def create_issue(command: CreateIssue, ctx: CommandContext, deps: Dependencies) -> CreateIssueResult:
    """Creates an issue with what its traces already tell. Traces heard of while it is being
    created are taken in by looking again once it is stored (see `on_traces_ingested`)."""
    unnamed_agent = None if command.agent_name else command.agent_id
    known = await deps.trace_facts.knowledge(ctx.workspace, command.trace_ids, unnamed_agent)

    issue, response = await deps.work.create(
        ctx,
        command,
        build=lambda: Issue.open(new_issue_id(), ctx.workspace, command, deps.clock(), known),
        respond=lambda issue: issue.summary().to_wire(),
    )
    created_id = response["id"]
    try:
        told_since = issue is None or known != await deps.trace_facts.knowledge(
            ctx.workspace, command.trace_ids, unnamed_agent)
        if told_since:
            await _learn_from_traces(deps, ctx, created_id)
    except ExpectedError as error:
        log.warning("issue stored; what its traces tell will come with their next event", issue_id=created_id,
                    error=str(error))
    as_created = FIRST_VERSION  # the answer, first or replayed, shows the issue as it was created
    return CreateIssueResult(issue=IssueSummary.model_validate(response), replayed=issue is None, version=as_created)


async def get_issue(command: GetIssue, ctx: CommandContext, deps: Dependencies) -> GetIssueResult:
    issue = await deps.work.read(ctx, command.issue_id)
    return GetIssueResult(issue=issue.detail(), version=issue.version)


async def list_issues(command: ListIssues, ctx: CommandContext, deps: Dependencies) -> Page[IssueSummary]:
    issues, total = await deps.issues.find_page(ctx.workspace, command)
    return Page[IssueSummary](
        items=[issue.summary() for issue in issues], page=command.page, limit=command.limit, total=total
    )


async def update_issue(command: UpdateIssue, ctx: CommandContext, deps: Dependencies) -> UpdateIssueResult:
    """A conditional update is checked against the version each attempt reads, and stored only
    if nobody changed the issue since: a change in between makes the next attempt refuse it.
    A redelivered command answers with the issue as it is, its condition not checked again."""

    async def work(unit: UnitOfWork[Issue]) -> UpdateIssueResult:
        issue = await unit.existing(command.issue_id)
        if not issue.has_applied(ctx.command_id):
            issue.require_version(command.expected_versions, "Issue")
            issue.apply(command.patch, deps.clock(), ctx.command_id)
        return UpdateIssueResult(issue=issue.summary(), version=issue.version)

    return await deps.work.change(ctx, work, f"Issue {command.issue_id}")


async def attach_traces(command: AttachTraces, ctx: CommandContext, deps: Dependencies) -> AttachTracesResult:
    """Adds the traces to the issue (reopening it when it is closed: a regression), with the
    metadata all its traces then tell; traces heard of while it was being changed are taken in
    by looking again once it is stored, as `create_issue` does. A redelivered command changes
    nothing again: it answers with the issue as it is, and `reopened` as the first delivery did."""
    attached = False

    async def work(unit: UnitOfWork[Issue]) -> AttachTracesResult:
        nonlocal attached
        issue = await unit.existing(command.issue_id)
        if issue.has_applied(ctx.command_id):
            reopened = issue.regression_by(ctx.command_id) is not None
            return AttachTracesResult(issue=issue.summary(), reopened=reopened, version=issue.version)
        unnamed_agent = None if issue.agent_name else issue.agent_id
        held = set(issue.trace_ids)
        every_trace = [*issue.trace_ids, *(trace_id for trace_id in command.trace_ids if trace_id not in held)]
        known = await deps.trace_facts.knowledge(ctx.workspace, every_trace, unnamed_agent)
        reopened = issue.attach(command.trace_ids, known, deps.clock(), ctx.command_id)
        attached = issue.changed
        if reopened:
            log.info("issue regressed", issue_id=issue.id, regression_count=issue.metadata.regression_count)
        return AttachTracesResult(issue=issue.summary(), reopened=reopened, version=issue.version)

    result = await deps.work.change(ctx, work, f"Issue {command.issue_id}")
    if attached:
        try:
            await _learn_from_traces(deps, ctx, command.issue_id)
        except ExpectedError as error:
            log.warning("traces attached; what they tell will come with their next event", issue_id=command.issue_id,
                        error=str(error))
    return result


async def delete_issue(command: DeleteIssue, ctx: CommandContext, deps: Dependencies) -> DeleteIssueResult:
    async def work(unit: UnitOfWork[Issue]) -> DeleteIssueResult:
        issue = await unit.get(command.issue_id, include_deleted=True)
        if issue is None or (issue.deleted_at is not None and not issue.has_applied(ctx.command_id)):
            raise NotFound(f"Issue {command.issue_id} not found")
        if issue.deleted_at is None:
            issue.require_version(command.expected_versions, "Issue")
            known = issue.active_shadow_tests or await deps.shadow_tests.active_for(ctx, issue.id)
            issue.delete(deps.clock(), ctx.command_id, known)
        return DeleteIssueResult(issue_id=issue.id)

    return await deps.work.change(ctx, work, f"Issue {command.issue_id}")


async def on_fix_changed(event: FixEvent, envelope: Envelope, deps: Dependencies) -> None:
    """Keeps the issue's summary of the fix, and the status derived from its fixes, current. News
    that would close the issue is checked against its traces seen after the fix was applied
    (attached before the news came): the issue regresses instead (see `Issue.record_fix`)."""
    if event.fix.issue_id is None:
        return
    news = FixState(event.fix.id, event.fix.type, event.fix.status, event.version, event.status_version,
                    event.status_changed_at)
    ctx = CommandContext.of(envelope)

    async def work(unit: UnitOfWork[Issue]) -> None:
        issue = await unit.get(event.fix.issue_id)
        if issue is None:
            log.info("fix event for an issue that is gone; ignored", issue_id=event.fix.issue_id, fix_id=event.fix.id)
            return
        applied_at = issue.applied_at_if_closing(news, envelope.message_id)
        seen_after = await _traces_seen_after(deps, ctx, issue, applied_at)
        regressions = issue.metadata.regression_count
        issue.record_fix(news, deps.clock(), envelope.message_id, seen_after)
        if issue.metadata.regression_count > regressions:
            log.info("issue regressed: traces seen after its fix was applied", issue_id=issue.id, fix_id=news.id,
                     regression_count=issue.metadata.regression_count)

    await deps.work.change(ctx, work, f"Issue {event.fix.issue_id}")


async def on_shadow_test_changed(event: ShadowTestEvent, envelope: Envelope, deps: Dependencies) -> None:
    if event.issue_id is None:
        return
    news = ShadowTestState(event.test.id, event.test.status, event.version)
    ctx = CommandContext.of(envelope)

    async def work(unit: UnitOfWork[Issue]) -> None:
        issue = await unit.get(event.issue_id)
        if issue is not None:
            issue.record_shadow_test(news, deps.clock(), envelope.message_id)

    await deps.work.change(ctx, work, f"Issue {event.issue_id}")


async def on_traces_ingested(event: TracesIngested, envelope: Envelope, deps: Dependencies) -> None:
    """Records what the new traces tell, then updates the issues they concern. Recording first
    closes the race with an issue being created at the same moment (see `create_issue`)."""
    await deps.trace_facts.record(envelope.workspace, event.traces)
    named_agents = sorted({fact.agent_id for fact in event.traces if fact.agent_name})
    trace_ids = [fact.id for fact in event.traces]
    ctx = CommandContext.of(envelope)
    for issue_id in await deps.issues.ids_learning_from(envelope.workspace, trace_ids, named_agents):
        await _learn_from_traces(deps, ctx, issue_id)


async def _learn_from_traces(deps: Dependencies, ctx: CommandContext, issue_id: str) -> None:
    async def work(unit: UnitOfWork[Issue]) -> None:
        issue = await unit.get(issue_id)
        if issue is not None:
            unnamed_agent = None if issue.agent_name else issue.agent_id
            known = await deps.trace_facts.knowledge(ctx.workspace, issue.trace_ids, unnamed_agent)
            applied_at = issue.applied_at_if_contradicted(known)
            seen_after = await _traces_seen_after(deps, ctx, issue, applied_at)
            regressions = issue.metadata.regression_count
            issue.learn_from_traces(known, deps.clock(), ctx.command_id, seen_after)
            if issue.metadata.regression_count > regressions:
                log.info("issue regressed: traces seen after its fix was applied", issue_id=issue.id,
                         regression_count=issue.metadata.regression_count)

    await deps.work.change(ctx, work, f"Issue {issue_id}")



async def _traces_seen_after(deps: Dependencies, ctx: CommandContext, issue: Issue, at: datetime | None) -> list[str]:
    return await deps.trace_facts.seen_after(ctx.workspace, issue.trace_ids, at) if at else []
