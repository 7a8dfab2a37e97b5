"""What the fixes handlers need from the world: the fix store, the record of the commands
fixes applied, the issues it heard were deleted, and the issues service."""

from typing import Protocol

from services.fixes.domain.model import Fix
from shared.contracts.fixes import ListFixes
from shared.messaging.commands import CommandContext
from shared.messaging.outbox import OutboxStore
from shared.store.creation import Creation
from shared.store.unit_of_work import AggregateStore, AppliedCommands

__all__ = ["AppliedCommands", "DeletedIssues", "FixRepository", "IssueDirectory"]


class FixRepository(AggregateStore[Fix], OutboxStore, Protocol):
    async def get(self, workspace: str, fix_id: str) -> Fix | None: ...

    async def find_creation(self, workspace: str, command_id: str) -> Creation | None: ...

    async def find_page(self, workspace: str, query: ListFixes) -> tuple[list[Fix], int]: ...

    async def ids_for_issue(self, workspace: str, issue_id: str) -> list[str]: ...


class DeletedIssues(Protocol):
    """Issues this service has heard were deleted (from `issue.deleted` events)."""

    async def record(self, workspace: str, issue_id: str) -> None: ...

    async def contains(self, workspace: str, issue_id: str) -> bool: ...


class IssueDirectory(Protocol):
    """Asks the issues service whether an issue exists in a workspace."""

    async def exists(self, ctx: CommandContext, issue_id: str) -> bool: ...
