"""What the traces handlers, and the announcer, need from the trace store."""

from datetime import datetime
from typing import Literal, Protocol

from shared.contracts.traces import ListTraces, Trace


class TraceStore(Protocol):
    """Traces keyed by the caller's id within a workspace, each stored with the command that
    ingested it, and the body fingerprint of each ingest command (kept a week)."""

    async def claim_command(
        self, workspace: str, command_id: str, fingerprint: str
    ) -> Literal["first", "again", "other body"]:
        """Records that this command ingests this body: `first` for the first delivery, `again`
        when the command was seen before with this body, `other body` when with another."""

    async def insert_new(
        self, workspace: str, traces: list[Trace], ingestion: dict
    ) -> tuple[list[str], dict[str, dict]]:
        """Inserts the traces whose id is free, unannounced, a chunk at a time; returns the ids
        inserted now and, for the others, the `ingestion` record of the command that stored
        them. A store failure part of the way (`Unavailable`, `DeadlineExceeded`) leaves the
        chunks before it stored."""

    async def get(self, workspace: str, trace_id: str) -> Trace | None: ...

    async def existing_ids(self, workspace: str, trace_ids: list[str]) -> set[str]: ...

    async def find_page(self, workspace: str, query: ListTraces) -> tuple[list[Trace], int]: ...


class UnannouncedTraces(Protocol):
    """The traces whose `traces.ingested` event is still to publish."""

    async def unannounced(self, limit: int, ingested_before: datetime | None = None) -> list[dict]:
        """Their facts, workspace and the correlation id and actor of the command that stored
        them (stored before `ingested_before`, if given)."""

    async def mark_announced(self, keys: list[str]) -> None: ...
