"""What the handlers need from the issue store."""

from typing import Protocol

from services.issues.domain.model import Issue, TraceKnowledge
from shared.contracts.envelope import Envelope
from shared.contracts.issues import ListIssues
from shared.contracts.traces import TraceFact
from shared.messaging.mongo import Creation
from shared.messaging.outbox import OutboxStore


class IssueRepository(OutboxStore, Protocol):
    async def add(self, issue: Issue, creation: Creation, outbox: list[Envelope]) -> None:
        """Stores a new issue; raises `IdTaken` or `AlreadyCreated` (same command seen before)."""

    async def get(self, workspace: str, issue_id: str, include_deleted: bool = False) -> Issue | None:
        """The issue, or None if it does not exist, is another workspace's, or is deleted
        (unless `include_deleted`)."""

    async def save(self, issue: Issue, outbox: list[Envelope]) -> None:
        """Stores a changed issue; raises `ConcurrentUpdate` if it changed since it was read."""

    async def find_page(self, workspace: str, query: ListIssues) -> tuple[list[Issue], int]:
        """One page of live issues matching the query's filters, and how many match in all."""

    async def ids_learning_from(self, workspace: str, trace_ids: list[str], agent_ids: list[str]) -> list[str]:
        """Live issues that link one of these traces, or have no agent name and one of these agents."""


class TraceFacts(Protocol):
    async def record(self, workspace: str, facts: list[TraceFact]) -> None: ...

    async def knowledge(self, workspace: str, trace_ids: list[str], unnamed_agent: str | None) -> TraceKnowledge:
        """The metadata these traces give, and the name `unnamed_agent` goes by (not looked up
        when None: the issue has its name already)."""
