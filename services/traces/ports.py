"""What the traces handlers, and the announcer, need from the trace store."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.traces.domain.otlp import SpanRecord
from shared.contracts.traces import ListTraces, Trace


@dataclass(frozen=True)
class WaitingTrace:
    """A trace whose spans are still buffered, with the export that last sent one of them."""

    workspace: str
    trace_id: str
    last_arrival: datetime
    correlation_id: str
    actor: str | None


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


class SpanBuffer(Protocol):
    """OTLP spans kept per trace until the trace is assembled (`otlp_spans`), and per trace
    when its last span arrived and whether it was assembled (`otlp_waiting`). A span is kept
    once however often it is sent; spans of a trace already assembled are not kept."""

    async def add(self, workspace: str, spans: list[SpanRecord], now: datetime, correlation_id: str,
                  actor: str | None) -> dict[str, bool]:
        """Keeps the spans; for each trace of them still waiting, whether its root span has
        arrived (traces already assembled are left out, and their spans dropped)."""

    async def spans_of(self, workspace: str, trace_id: str) -> list[SpanRecord]: ...

    async def state(self, workspace: str, trace_id: str) -> Literal["new", "waiting", "assembled"]:
        """`new` when no span of the trace was kept and it was never assembled."""

    async def claim_quiet(self, arrived_before: datetime, now: datetime, lease_seconds: float,
                          limit: int) -> list[WaitingTrace]:
        """Waiting traces whose last span arrived before `arrived_before`, each leased to the
        caller for `lease_seconds` (another sweeper skips it meanwhile)."""

    async def mark_assembled(self, workspace: str, trace_id: str) -> None:
        """The trace's spans are dropped (if any were kept); spans of it sent later are not kept."""
