"""What the fixes handlers need from the stores and from the issues service."""

from typing import Protocol

from services.fixes.domain.model import Fix
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import ListFixes
from shared.messaging.commands import CommandContext
from shared.messaging.mongo import Creation
from shared.messaging.outbox import OutboxStore


class FixRepository(OutboxStore, Protocol):
    async def add(self, fix: Fix, creation: Creation, outbox: list[Envelope]) -> None:
        """Stores a new fix; raises `IdTaken` or `AlreadyCreated` (same command seen before)."""

    async def find_creation(self, workspace: str, command_id: str) -> Creation | None: ...

    async def get(self, workspace: str, fix_id: str) -> Fix | None: ...

    async def save(self, fix: Fix, outbox: list[Envelope]) -> None:
        """Stores a changed fix; raises `ConcurrentUpdate` if it changed since it was read."""

    async def find_page(self, workspace: str, query: ListFixes) -> tuple[list[Fix], int]: ...

    async def ids_for_issue(self, workspace: str, issue_id: str) -> list[str]: ...


class DeletedIssues(Protocol):
    """Issues this service has heard were deleted (from `issue.deleted` events)."""

    async def record(self, workspace: str, issue_id: str) -> None: ...

    async def contains(self, workspace: str, issue_id: str) -> bool: ...


class IssueDirectory(Protocol):
    """Asks the issues service whether an issue exists in a workspace."""

    async def exists(self, ctx: CommandContext, issue_id: str) -> bool: ...
