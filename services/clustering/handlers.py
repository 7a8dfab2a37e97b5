"""The clustering service's use cases: failing traces into issues, what it hears of issues,
and a workspace's settings."""

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import structlog

from services.clustering.domain.behaviour import FACTS_VERSION
from services.clustering.domain.clustering import ProposedIssue, cluster_batch
from services.clustering.domain.embedding import embed_traces
from services.clustering.domain.intake import agent_names, create_issue, domain_settings, failing_traces
from services.clustering.domain.model import is_failing
from services.clustering.domain.naming import named, naming_request
from services.clustering.domain.record import AgentRecord, OwedCommand
from services.clustering.ports import (
    AgentRecords,
    Embedder,
    IssueCommands,
    IssueNamer,
    ManualTraces,
    NamingFailed,
    SettingsStore,
)
from shared.contracts.clustering import (
    ClusteringSettingsResult,
    ClusteringSettingsView,
    GetClusteringSettings,
    UpdateClusteringSettings,
)
from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import ErrorCode, PreconditionFailed, RemoteError, Unavailable
from shared.contracts.issues import IssueCreated, IssueDeleted, IssueDetail, IssueRegressed, IssueUpdated
from shared.contracts.traces import TracesIngested
from shared.messaging.commands import CommandContext
from shared.store.unit_of_work import retry_on_conflict

log = structlog.get_logger(__name__)

RETRIED_CODES = {ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.TIMEOUT}
NAMING_BUDGET_SECONDS = 30.0


@dataclass(frozen=True)
class Dependencies:
    settings: SettingsStore
    records: AgentRecords
    manual: ManualTraces
    issues: IssueCommands
    embedder: Embedder
    clock: Callable[[], datetime] = utc_now
    namer: IssueNamer | None = None


async def on_traces_ingested(event: TracesIngested, envelope: Envelope, deps: Dependencies) -> None:
    """Clusters the failing traces of the event, agent by agent, then sends the commands that
    causes. Runs apart from ingestion (its own queue); a redelivered event finds its traces
    seen and only sends what is still owed."""
    workspace = envelope.workspace
    view, _, _ = await deps.settings.get(workspace)
    if not view.enabled:
        log.info("clustering disabled for the workspace; traces ignored", count=len(event.failing))
        return
    settings = domain_settings(view)
    traces = [trace for trace in failing_traces(event) if is_failing(trace, settings.feedback_threshold)]
    manual = await deps.manual.among(workspace, [trace.id for trace in traces])
    traces = [trace for trace in traces if trace.id not in manual]
    if not traces:
        return
    vectors = await asyncio.to_thread(embed_traces, deps.embedder, traces)
    names, cause = agent_names(event), _cause(envelope)
    asked: dict[str, ProposedIssue] = {}
    for agent_id in dict.fromkeys(trace.agent_id for trace in traces):
        batch = [(t, v) for t, v in zip(traces, vectors, strict=True) if t.agent_id == agent_id]

        async def attempt(agent_id=agent_id, batch=batch) -> None:
            record = await deps.records.get(workspace, agent_id) or AgentRecord.new(workspace, agent_id)
            if record.state.adopt(model_name(deps.embedder), deps.embedder.dimension):
                log.warning("the embedding model changed: the agent's stored vectors were dropped; its issues are "
                            "matched by their words and behaviour until new traces join them", agent_id=agent_id,
                            model=record.state.model)
            if record.state.read_facts(FACTS_VERSION):
                log.warning("the behaviour facts changed: the agent's stored behaviour vectors were emptied; its "
                            "issues are matched by their other aspects until new traces join them", agent_id=agent_id,
                            facts=FACTS_VERSION)
            unseen = record.unseen([trace.id for trace, _ in batch])
            fresh = [(trace, vector) for trace, vector in batch if trace.id in unseen]
            if not fresh:
                return
            outcome = await asyncio.to_thread(cluster_batch, record.state, fresh, settings)
            outcome.proposed = await _named(deps.namer, outcome.proposed, names.get(agent_id), asked)
            record.saw([trace.id for trace, _ in fresh])
            record.owe(outcome, cause, lambda p: create_issue(p, names.get(agent_id)).to_wire())
            await deps.records.save(record)
            log.info("traces clustered", agent_id=agent_id, traces=len(fresh), new_issues=len(outcome.proposed),
                     joined=len(outcome.assigned), regressed=len(outcome.regressed), waiting=len(outcome.pending))

        await retry_on_conflict(attempt, f"The clustering state of agent {agent_id}")
        await send_owed(deps, workspace, agent_id)


def model_name(embedder: Embedder) -> str:
    """What names the embedding model in a stored state: its adapter, its model when it has
    one (an endpoint's), and its width."""
    return ":".join(str(part) for part in (type(embedder).__name__, getattr(embedder, "model", ""), embedder.dimension))


async def _named(
    namer: IssueNamer | None, proposed: list[ProposedIssue], agent_name: str | None, asked: dict[str, ProposedIssue]
) -> list[ProposedIssue]:
    """The new issues titled and described by the language model when one is configured. An
    issue it fails to name, or has not named within `NAMING_BUDGET_SECONDS` for the batch,
    keeps its automatic title (and a warning says why). `asked` keeps the answers by issue key
    for the event being handled, so that a retry after a concurrent update asks no model again."""
    if namer is None:
        return proposed
    waiting = [issue for issue in proposed if issue.key not in asked]

    async def name(issue: ProposedIssue) -> None:
        try:
            asked[issue.key] = named(issue, await namer.complete(naming_request(issue, agent_name)))
        except (NamingFailed, ValueError) as error:
            log.warning("the label model did not name a new issue; its automatic title is kept", key=issue.key,
                        error=str(error))

    if waiting:
        try:
            async with asyncio.timeout(NAMING_BUDGET_SECONDS):
                await asyncio.gather(*(name(issue) for issue in waiting))
        except TimeoutError:
            log.warning("the label model took too long; new issues keep their automatic titles",
                        budget_s=NAMING_BUDGET_SECONDS, unnamed=[i.key for i in waiting if i.key not in asked])
        for issue in waiting:
            asked.setdefault(issue.key, issue)
    return [asked[issue.key] for issue in proposed]


async def send_owed(deps: Dependencies, workspace: str, agent_id: str) -> None:
    """Sends the agent's owed commands, oldest first, then settles those answered in one
    change. A refusal (the issue deleted, a command the issues service does not take) is logged
    and dropped; an issues service that does not answer leaves the rest owed, and the event is
    retried."""
    record = await deps.records.get(workspace, agent_id)
    if record is None or not record.owed:
        return
    answered: list[tuple[OwedCommand, str | None]] = []
    try:
        for command in record.owed:
            cause = CommandContext(**command.cause)
            try:
                answered.append((command, await _send(deps, cause, command)))
            except RemoteError as error:
                if error.code in RETRIED_CODES:
                    raise Unavailable(f"the issues service did not take {command.purpose}: {error}") from error
                log.warning("the issues service refused a command; dropped", purpose=command.purpose,
                            code=error.code.value, error=str(error), correlation_id=cause.correlation_id)
                answered.append((command, None))
    finally:
        if answered:
            await _change(deps, workspace, agent_id, lambda r: _settle(r, answered))


def _settle(record: AgentRecord, answered: list[tuple[OwedCommand, str | None]]) -> None:
    for command, issue_id in answered:
        if issue_id is None:
            record.abandon(command)
            continue
        if command.kind == "create":
            record.created(command.key, issue_id)
        record.settle(command.purpose)


async def _send(deps: Dependencies, cause: CommandContext, command: OwedCommand) -> str:
    if command.kind == "create":
        return await deps.issues.create(cause, command.purpose, command.body)
    await deps.issues.attach(cause, command.purpose, command.issue_id, command.trace_ids)
    return command.issue_id


async def _change(deps: Dependencies, workspace: str, agent_id: str, change: Callable[[AgentRecord], None]) -> None:
    async def attempt() -> None:
        record = await deps.records.get(workspace, agent_id)
        if record is not None:
            change(record)
            await deps.records.save(record)

    await retry_on_conflict(attempt, f"The clustering state of agent {agent_id}")


async def on_issue_created(event: IssueCreated, envelope: Envelope, deps: Dependencies) -> None:
    """A manual issue's traces are never clustered: remembered, and no longer waiting."""
    if event.issue.trace_ids:
        await _follow_manual(event.issue, event.version, envelope.workspace, deps)


async def on_issue_changed(event: IssueUpdated | IssueRegressed, envelope: Envelope, deps: Dependencies) -> None:
    """Follows the traces of manual issues, and the status of the issues clustering made (a
    closed one takes no trace; one that matches it reopens it)."""
    issue = event.issue
    if issue.source != "clustering":
        if isinstance(event, IssueRegressed) or "traceIds" in event.changed_fields:
            await _follow_manual(issue, event.version, envelope.workspace, deps)
        return
    record = await deps.records.get(envelope.workspace, issue.agent_id)
    if record is not None and record.state.issue(issue.id) is not None:
        await _change(deps, envelope.workspace, issue.agent_id,
                      lambda r: r.heard(issue.id, event.version, issue.status))


async def _follow_manual(issue: IssueDetail, version: int, workspace: str, deps: Dependencies) -> None:
    if issue.source == "clustering":
        return
    await deps.manual.record(workspace, issue.id, version, issue.trace_ids)
    taken = set(issue.trace_ids)
    record = await deps.records.get(workspace, issue.agent_id)
    if record is not None and any(p.trace_id in taken for p in record.state.pending):
        await _change(deps, workspace, issue.agent_id, lambda r: r.forget_pending(taken))


async def on_issue_deleted(event: IssueDeleted, envelope: Envelope, deps: Dependencies) -> None:
    """A deleted manual issue's traces may be clustered again when they come back."""
    if event.issue is not None and event.issue.source != "clustering":
        await deps.manual.forget(envelope.workspace, event.issue_id)
        return
    agent_id = await deps.records.agent_of_issue(envelope.workspace, event.issue_id)
    if agent_id is not None:
        await _change(deps, envelope.workspace, agent_id, lambda r: r.state.remove_issue(event.issue_id))


async def get_settings(command: GetClusteringSettings, ctx: CommandContext, deps: Dependencies
                       ) -> ClusteringSettingsResult:
    settings, version, _ = await deps.settings.get(ctx.workspace)
    return ClusteringSettingsResult(settings=settings, version=version)


async def update_settings(command: UpdateClusteringSettings, ctx: CommandContext, deps: Dependencies
                          ) -> ClusteringSettingsResult:
    """Applies the patch; with `expectedVersions`, only to one of those versions. The same
    command redelivered answers the settings as they are."""

    async def attempt() -> ClusteringSettingsResult:
        settings, version, last_command = await deps.settings.get(ctx.workspace)
        if last_command == ctx.command_id:
            return ClusteringSettingsResult(settings=settings, version=version)
        if command.expected_versions is not None and version not in command.expected_versions:
            raise PreconditionFailed("The clustering settings", version)
        changed = ClusteringSettingsView.model_validate(settings.model_dump() | command.patch.given())
        await deps.settings.save(ctx.workspace, changed, version, ctx.command_id)
        return ClusteringSettingsResult(settings=changed, version=version + 1)

    return await retry_on_conflict(attempt, "The clustering settings")


def _cause(envelope: Envelope) -> dict:
    return asdict(CommandContext.of(envelope))
