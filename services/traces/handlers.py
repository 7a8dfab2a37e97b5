"""The traces service's use cases."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.traces.domain.model import partly_stored, stored_traces
from services.traces.ports import TraceStore
from shared.contracts.common import Page, utc_now
from shared.contracts.errors import DeadlineExceeded, NotFound, Unavailable
from shared.contracts.traces import (
    FindMissingTraces,
    GetTrace,
    IngestResult,
    IngestTraces,
    ListTraces,
    MissingTraces,
    Trace,
)
from shared.messaging.commands import CommandContext
from shared.store.creation import fingerprint, key_reused


@dataclass(frozen=True)
class Dependencies:
    traces: TraceStore
    announce: Callable[[], None]
    clock: Callable[[], datetime] = utc_now


async def ingest_traces(command: IngestTraces, ctx: CommandContext, deps: Dependencies) -> IngestResult:
    """Stores a batch; a trace id stored before by another command is left as it is and
    reported as existing. The traces stored are announced by a `traces.ingested` event. The
    same command again (a redelivery, or the same Idempotency-Key and body, even while the
    first is being handled) stores what the first has not yet and gives the first's answer,
    marked replayed. A store failure once writing began says that part may be stored."""
    traces = stored_traces(command.traces, ctx.command_id, deps.clock())
    claim = await deps.traces.claim_command(ctx.workspace, ctx.command_id, fingerprint(command))
    if claim == "other body":
        raise key_reused()
    ingestion = {"commandId": ctx.command_id, "correlationId": ctx.correlation_id, "actor": ctx.actor}
    try:
        inserted, holders = await deps.traces.insert_new(ctx.workspace, traces, ingestion)
    except (Unavailable, DeadlineExceeded) as error:
        deps.announce()
        raise partly_stored(error, command.traces, traces) from error
    ours = {trace_id for trace_id, holder in holders.items() if holder.get("commandId") == ctx.command_id}
    if inserted:
        deps.announce()
    created = [trace.id for trace in traces if trace.id in ours or trace.id in inserted]
    existing = [trace.id for trace in traces if trace.id in holders and trace.id not in ours]
    return IngestResult(created=created, existing=existing, replayed=claim == "again")


async def get_trace(command: GetTrace, ctx: CommandContext, deps: Dependencies) -> Trace:
    trace = await deps.traces.get(ctx.workspace, command.trace_id)
    if trace is None:
        raise NotFound(f"Trace {command.trace_id} not found")
    return trace


async def find_missing_traces(command: FindMissingTraces, ctx: CommandContext, deps: Dependencies) -> MissingTraces:
    known = await deps.traces.existing_ids(ctx.workspace, command.trace_ids)
    return MissingTraces(missing=[trace_id for trace_id in command.trace_ids if trace_id not in known])


async def list_traces(command: ListTraces, ctx: CommandContext, deps: Dependencies) -> Page[Trace]:
    traces, total = await deps.traces.find_page(ctx.workspace, command)
    return Page[Trace](items=traces, page=command.page, limit=command.limit, total=total)
