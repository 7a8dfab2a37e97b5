"""What the clustering handlers need from the world: the workspace settings, the per-agent
records, the trace ids of manual issues, the issues service, an embedding model, and a
language model to name new issues when one is configured."""

from typing import Protocol

from services.clustering.domain.embedding import Embedder
from services.clustering.domain.record import AgentRecord
from shared.contracts.clustering import ClusteringSettingsView
from shared.messaging.commands import CommandContext

__all__ = ["AgentRecords", "Embedder", "IssueCommands", "IssueNamer", "ManualTraces", "NamingFailed", "SettingsStore"]


class SettingsStore(Protocol):
    async def get(self, workspace: str) -> tuple[ClusteringSettingsView, int, str | None]:
        """The settings, their version and the command that changed them last; the defaults at
        version 1 when never changed."""

    async def save(self, workspace: str, settings: ClusteringSettingsView, read_version: int, command_id: str) -> None:
        """Stores them at `read_version + 1`; raises `ConcurrentUpdate` if they changed since read."""


class AgentRecords(Protocol):
    async def get(self, workspace: str, agent_id: str) -> AgentRecord | None: ...

    async def save(self, record: AgentRecord) -> None:
        """Stores it at `record.version + 1` (inserts version 0); raises `ConcurrentUpdate` if
        it changed since it was read."""

    async def agent_of_issue(self, workspace: str, issue_id: str) -> str | None: ...


class ManualTraces(Protocol):
    """Trace ids that callers put in issues (from the events of manual issues): `record` keeps an
    issue's ids as of `version`, unless a later version is kept already."""

    async def record(self, workspace: str, issue_id: str, version: int, trace_ids: list[str]) -> None: ...

    async def forget(self, workspace: str, issue_id: str) -> None: ...

    async def among(self, workspace: str, trace_ids: list[str]) -> set[str]: ...


class IssueCommands(Protocol):
    """The issues service's commands, each sent on behalf of the event `cause` is the context
    of, under an id derived from it and `purpose` (so sending again acts once)."""

    async def create(self, cause: CommandContext, purpose: str, body: dict) -> str:
        """Creates the issue; returns its id."""

    async def attach(self, cause: CommandContext, purpose: str, issue_id: str, trace_ids: list[str]) -> None: ...


class NamingFailed(Exception):
    """The language model gave no reply to use (down, timed out, refused, or not a completion)."""


class IssueNamer(Protocol):
    """An OpenAI-compatible chat model that names new issues (`domain/naming.py` writes the
    request and reads the reply)."""

    async def complete(self, messages: list[dict]) -> str:
        """The reply's text; raises `NamingFailed`."""
