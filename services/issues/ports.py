"""What the issues handlers need from the world: the issue store, the record of the commands
issues applied, what traces tell, and which shadow tests are active."""

from datetime import datetime
from typing import Protocol

from services.issues.domain.model import Issue, TraceKnowledge
from shared.contracts.issues import ListIssues
from shared.contracts.traces import TraceFact
from shared.messaging.commands import CommandContext
from shared.messaging.outbox import OutboxStore
from shared.store.unit_of_work import AggregateStore, AppliedCommands

__all__ = ["AppliedCommands", "IssueRepository", "ShadowTestDirectory", "TraceFacts"]


class IssueRepository(AggregateStore[Issue], OutboxStore, Protocol):
    async def get(self, workspace: str, issue_id: str, include_deleted: bool = False) -> Issue | None:
        """The issue, or None if it does not exist, is another workspace's, or is deleted
        (unless `include_deleted`)."""

    async def find_page(self, workspace: str, query: ListIssues) -> tuple[list[Issue], int]:
        """One page of live issues matching the query's filters, and how many match in all."""

    async def ids_learning_from(self, workspace: str, trace_ids: list[str], agent_ids: list[str]) -> list[str]:
        """Live issues that link one of these traces, or have no agent name and one of these agents."""


class TraceFacts(Protocol):
    async def record(self, workspace: str, facts: list[TraceFact]) -> None: ...

    async def knowledge(self, workspace: str, trace_ids: list[str], unnamed_agent: str | None) -> TraceKnowledge:
        """The metadata these traces give, and the name `unnamed_agent` goes by (not looked up
        when None: the issue has its name already)."""

    async def seen_after(self, workspace: str, trace_ids: list[str], after: datetime) -> list[str]:
        """Those of these traces whose timestamp is after `after`."""


class ShadowTestDirectory(Protocol):
    async def active_for(self, ctx: CommandContext, issue_id: str) -> list[str]: ...
