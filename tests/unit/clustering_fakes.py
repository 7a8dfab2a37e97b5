"""In-memory adapters for the clustering handlers."""

import copy
from dataclasses import dataclass, field
from datetime import datetime

from services.clustering.domain.record import AgentRecord
from services.traces.domain.failures import failing_trace, may_fail
from shared.contracts.clustering import ClusteringSettingsView
from shared.contracts.common import FIRST_VERSION
from shared.contracts.errors import ErrorBody, ErrorCode, RemoteError, Unavailable
from shared.contracts.traces import TraceFact, TracesIngested
from shared.messaging.asking import derived_message_id
from shared.store.documents import ConcurrentUpdate


class FakeSettings:
    def __init__(self):
        self.stored: dict[str, tuple[ClusteringSettingsView, int, str | None]] = {}

    async def get(self, workspace):
        return self.stored.get(workspace, (ClusteringSettingsView(), FIRST_VERSION, None))

    async def save(self, workspace, settings, read_version, command_id):
        if (await self.get(workspace))[1] != read_version:
            raise ConcurrentUpdate(workspace)
        self.stored[workspace] = (settings, read_version + 1, command_id)


class FakeAgentRecords:
    def __init__(self):
        self.stored: dict[tuple[str, str], AgentRecord] = {}

    async def get(self, workspace, agent_id):
        record = self.stored.get((workspace, agent_id))
        return copy.deepcopy(record) if record else None

    async def save(self, record):
        current = self.stored.get((record.workspace, record.agent_id))
        if (current.version if current else 0) != record.version:
            raise ConcurrentUpdate(record.agent_id)
        record.version += 1
        self.stored[(record.workspace, record.agent_id)] = copy.deepcopy(record)

    async def agent_of_issue(self, workspace, issue_id):
        return next((agent for (ws, agent), r in self.stored.items()
                     if ws == workspace and r.state.issue(issue_id)), None)


class FakeManualTraces:
    def __init__(self):
        self.issues: dict[tuple[str, str], tuple[int, list[str]]] = {}

    async def record(self, workspace, issue_id, version, trace_ids):
        if self.issues.get((workspace, issue_id), (0, []))[0] < version:
            self.issues[(workspace, issue_id)] = (version, list(trace_ids))

    async def forget(self, workspace, issue_id):
        self.issues.pop((workspace, issue_id), None)

    async def among(self, workspace, trace_ids):
        taken = {t for (w, _), (_, ids) in self.issues.items() if w == workspace for t in ids}
        return {t for t in trace_ids if t in taken}


@dataclass
class FakeIssues:
    """Answers as the issues service does: a command id seen before gets its first answer."""

    issues: dict[str, dict] = field(default_factory=dict)
    answered: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, str, dict]] = field(default_factory=list)
    down: bool = False
    refuse_attach: bool = False

    async def create(self, cause, purpose, body):
        self._check()
        self.sent.append(("create", purpose, body))
        message_id = derived_message_id(cause.command_id, purpose)
        if message_id not in self.answered:
            issue_id = f"iss_{len(self.issues) + 1}"
            self.issues[issue_id] = {**copy.deepcopy(body), "status": "open"}
            self.answered[message_id] = issue_id
        return self.answered[message_id]

    async def attach(self, cause, purpose, issue_id, trace_ids):
        self._check()
        self.sent.append(("attach", purpose, {"issueId": issue_id, "traceIds": trace_ids}))
        if self.refuse_attach:
            raise RemoteError(ErrorBody(code=ErrorCode.VALIDATION_ERROR, message="unknown command type"))
        if issue_id not in self.issues:
            raise RemoteError(ErrorBody(code=ErrorCode.NOT_FOUND, message=f"Issue {issue_id} not found"))
        issue = self.issues[issue_id]
        issue["traceIds"] += [t for t in trace_ids if t not in issue["traceIds"]]
        issue["status"] = "open"

    def _check(self):
        if self.down:
            raise Unavailable("The issues service did not answer")

    def created(self) -> list[dict]:
        return list(self.issues.values())


def ingested(traces: list[dict]) -> TracesIngested:
    """The event the traces service publishes for these traces (API format)."""
    documents = [{**t, "timestamp": datetime.fromisoformat(t["timestamp"].replace("Z", "+00:00"))} for t in traces]
    return TracesIngested(
        traces=[TraceFact(id=d["id"], agent_id=d["agentId"], agent_name=d.get("agentName"),
                          customer_id=d.get("customerId"), timestamp=d["timestamp"]) for d in documents],
        failing=[failing_trace(d) for d in documents if may_fail(d)],
    )
