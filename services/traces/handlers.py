"""The traces service's use cases."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.traces.adapters.mongo_repository import MongoTraceStore
from services.traces.domain.model import fact, stored_traces
from shared.contracts.common import Page, new_id, utc_now
from shared.contracts.errors import NotFound
from shared.contracts.traces import (
    FoundTraces,
    GetTrace,
    GetTraces,
    IngestResult,
    IngestTraces,
    ListTraces,
    Trace,
    TracesIngested,
)
from shared.messaging.commands import CommandContext
from shared.messaging.idempotency import fingerprint, replay
from shared.messaging.mongo import AlreadyCreated
from shared.messaging.outbox import envelopes


@dataclass(frozen=True)
class Dependencies:
    traces: MongoTraceStore
    notify: Callable[[str], None]
    clock: Callable[[], datetime] = utc_now


async def ingest_traces(command: IngestTraces, ctx: CommandContext, deps: Dependencies) -> IngestResult:
    """Stores a batch; a trace id stored before is left as it is and reported as existing.
    The `traces.ingested` event lists the facts of the traces created."""
    traces = stored_traces(command.traces, deps.clock())
    ingestion_id = new_id("ing")
    try:
        created, existing = await deps.traces.ingest(
            ingestion_id,
            ctx.workspace,
            traces,
            (ctx.command_id, fingerprint(command)),
            events=lambda new: envelopes([TracesIngested(traces=[fact(trace) for trace in new])], ctx),
            respond=lambda created, existing: IngestResult(created=created, existing=existing).to_wire(),
        )
    except AlreadyCreated as seen:
        return IngestResult.model_validate({**replay(seen.creation, command), "replayed": True})
    if created:
        deps.notify(ingestion_id)
    return IngestResult(created=created, existing=existing)


async def get_trace(command: GetTrace, ctx: CommandContext, deps: Dependencies) -> Trace:
    trace = await deps.traces.get(ctx.workspace, command.trace_id)
    if trace is None:
        raise NotFound(f"Trace {command.trace_id} not found")
    return trace


async def get_traces(command: GetTraces, ctx: CommandContext, deps: Dependencies) -> FoundTraces:
    found = await deps.traces.get_many(ctx.workspace, command.trace_ids)
    known = {trace.id for trace in found}
    return FoundTraces(traces=found, missing=[trace_id for trace_id in command.trace_ids if trace_id not in known])


async def list_traces(command: ListTraces, ctx: CommandContext, deps: Dependencies) -> Page[Trace]:
    traces, total = await deps.traces.find_page(ctx.workspace, command)
    return Page[Trace](items=traces, page=command.page, limit=command.limit, total=total)
