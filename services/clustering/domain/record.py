"""What the clustering service keeps per agent of a workspace: the domain's `AgentState`, the
trace ids it has taken in (so that a redelivered or re-announced trace is not clustered twice),
the issue versions it has heard of, and the commands to the issues service it still owes.

A batch's outcome and the commands it causes are stored together, before any is sent: a crash
in between leaves them owed, and sending them again is harmless (each is sent under a message
id derived from the event that caused it and its purpose, see `shared.messaging.asking.send`)."""

import hashlib
from dataclasses import dataclass, field

from services.clustering.domain.clustering import BatchOutcome
from services.clustering.domain.state import AgentState

SEEN_KEPT = 20_000


@dataclass
class OwedCommand:
    """`kind` is `create` (`body` a CreateIssue) or `attach` (`issue_id`, `trace_ids`); `cause`
    is the context of the event that caused it (message id, workspace, actor, correlation id)."""

    kind: str
    purpose: str
    cause: dict
    key: str = ""
    body: dict = field(default_factory=dict)
    issue_id: str = ""
    trace_ids: list[str] = field(default_factory=list)


@dataclass
class AgentRecord:
    workspace: str
    agent_id: str
    state: AgentState
    seen: list[str] = field(default_factory=list)
    owed: list[OwedCommand] = field(default_factory=list)
    issue_versions: dict[str, int] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def new(cls, workspace: str, agent_id: str) -> "AgentRecord":
        return cls(workspace, agent_id, AgentState(agent_id))

    def unseen(self, trace_ids: list[str]) -> set[str]:
        seen = set(self.seen)
        return {trace_id for trace_id in trace_ids if trace_id not in seen}

    def saw(self, trace_ids: list[str]) -> None:
        self.seen = [*self.seen, *trace_ids][-SEEN_KEPT:]

    def owe(self, outcome: BatchOutcome, cause: dict, create_body) -> None:
        """The commands a batch's outcome causes: an issue per proposed cluster (with the traces
        of the batch that joined it at once), then the traces that joined an existing issue (or
        reopen a closed one), one command per issue."""
        creations = {}
        for proposed in outcome.proposed:
            creations[proposed.key] = OwedCommand("create", f"create {proposed.key}", cause, key=proposed.key,
                                                  body=create_body(proposed))
            self.owed.append(creations[proposed.key])
        joined: dict[str, list[str]] = {}
        for placement in [*outcome.assigned, *outcome.regressed]:
            if creation := creations.get(placement.issue_id):
                creation.body["traceIds"].append(placement.trace_id)
            else:
                joined.setdefault(placement.issue_id, []).append(placement.trace_id)
        for issue_id, trace_ids in joined.items():
            digest = hashlib.sha256("\n".join(trace_ids).encode()).hexdigest()[:24]
            self.owed.append(OwedCommand("attach", f"attach {issue_id} {digest}", cause, issue_id=issue_id,
                                         trace_ids=trace_ids))

    def created(self, key: str, issue_id: str) -> None:
        """The issue proposed as `key` exists as `issue_id`."""
        self.state.rename_issue(key, issue_id)
        for command in self.owed:
            if command.kind == "attach" and command.issue_id == key:
                command.issue_id = issue_id

    def settle(self, purpose: str) -> None:
        self.owed = [command for command in self.owed if command.purpose != purpose]

    def abandon(self, command: OwedCommand) -> None:
        """A command the issues service refused: a refused issue is forgotten."""
        self.settle(command.purpose)
        if command.kind == "create":
            self.state.remove_issue(command.key)

    def heard(self, issue_id: str, version: int, status: str | None) -> None:
        """An issue event: its status, unless an event of a later version came first."""
        if version <= self.issue_versions.get(issue_id, 0):
            return
        self.issue_versions[issue_id] = version
        if status is not None:
            self.state.set_status(issue_id, status)

    def forget_pending(self, trace_ids: set[str]) -> None:
        self.state.pending = [p for p in self.state.pending if p.trace_id not in trace_ids]
        self.state.placed = [p for p in self.state.placed if p.trace_id not in trace_ids]


