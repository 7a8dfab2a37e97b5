"""The traces service's use cases."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from services.traces.domain.model import partly_stored, stored_traces
from services.traces.domain.otlp import OtlpError, decode_export
from services.traces.domain.otlp_mapping import map_run
from services.traces.domain.otlp_runs import QUIET_PERIOD, Assembly, assemble, by_trace
from services.traces.ports import SpanBuffer, TraceStore, WaitingTrace
from shared.contracts.common import Page, utc_now
from shared.contracts.errors import DeadlineExceeded, InvalidRequest, NotFound, PayloadTooLarge, Unavailable
from shared.contracts.traces import (
    MAX_TRACES_PER_BATCH,
    FindMissingTraces,
    GetTrace,
    IngestOtlpExport,
    IngestResult,
    IngestTraces,
    ListTraces,
    MissingTraces,
    OtlpExportResult,
    Trace,
)
from shared.messaging.commands import CommandContext
from shared.store.creation import fingerprint, key_reused

log = structlog.get_logger(__name__)
SWEEP_BATCH = 50
MAX_REASONS = 5


@dataclass(frozen=True)
class Dependencies:
    traces: TraceStore
    announce: Callable[[], None]
    clock: Callable[[], datetime] = utc_now
    spans: SpanBuffer | None = None
    quiet_period: timedelta = QUIET_PERIOD


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


async def ingest_otlp_export(command: IngestOtlpExport, ctx: CommandContext, deps: Dependencies) -> OtlpExportResult:
    """Keeps the export's spans until their trace is complete (docs/otlp.md) and ingests the
    traces it completes, as `ingest_traces` does: a span or trace sent again is kept once, so a
    redelivered or re-sent export ingests nothing twice. A trace whole in this export and never
    seen before is ingested without being kept; a trace not complete yet is left to
    `assemble_quiet_traces`. Spans refused (bad ids or times, runs that make no trace) are
    counted in the answer with their reasons, as OTLP's partial success."""
    try:
        decoded = decode_export(command.raw_body(), command.content_type)
    except OtlpError as error:
        raise (PayloadTooLarge if error.kind == "too_large" else InvalidRequest)(error.message) from None
    now = deps.clock()
    reasons, rejected, stored, buffered = list(decoded.rejected), len(decoded.rejected), [], []
    for trace_id, spans in by_trace(decoded.spans).items():
        whole = assemble(spans, now, now, deps.quiet_period)
        if whole.reason == "whole" and await deps.spans.state(ctx.workspace, trace_id) == "new":
            refused, problems, ids = await _ingest_assembly(whole, ctx, deps)
            await deps.spans.mark_assembled(ctx.workspace, trace_id)
            rejected, reasons, stored = rejected + refused, reasons + problems, stored + ids
        else:
            buffered += spans
    waiting = await deps.spans.add(ctx.workspace, buffered, now, ctx.correlation_id, ctx.actor) if buffered else {}
    for trace_id, has_root in waiting.items():
        if not has_root:
            continue
        assembly = assemble(await deps.spans.spans_of(ctx.workspace, trace_id), now, now, deps.quiet_period)
        if assembly.ready:
            refused, problems, ids = await _ingest_assembly(assembly, ctx, deps)
            await deps.spans.mark_assembled(ctx.workspace, trace_id)
            rejected, reasons, stored = rejected + refused, reasons + problems, stored + ids
    message = "; ".join(reasons[:MAX_REASONS]) + (f"; and {len(reasons) - MAX_REASONS} more" if
                                                   len(reasons) > MAX_REASONS else "")
    return OtlpExportResult(rejected_spans=rejected, error_message=message, traces=stored)


async def assemble_quiet_traces(deps: Dependencies) -> int:
    """Assembles the traces no span has come for in the quiet period, from what arrived; each is
    leased while it is assembled, so one sweeper of several takes it. Returns how many."""
    now = deps.clock()
    claimed = await deps.spans.claim_quiet(now - deps.quiet_period, now, deps.quiet_period.total_seconds() + 30,
                                           SWEEP_BATCH)
    for waiting in claimed:
        await _assemble_waiting(waiting, now, deps)
    return len(claimed)


async def _assemble_waiting(waiting: WaitingTrace, now: datetime, deps: Dependencies) -> None:
    ctx = CommandContext(f"otlp-sweep-{waiting.trace_id}", waiting.workspace, waiting.actor, waiting.correlation_id)
    with structlog.contextvars.bound_contextvars(correlation_id=waiting.correlation_id):
        spans = await deps.spans.spans_of(waiting.workspace, waiting.trace_id)
        assembly = assemble(spans, waiting.last_arrival, now, deps.quiet_period)
        _, problems, stored = await _ingest_assembly(assembly, ctx, deps)
        await deps.spans.mark_assembled(waiting.workspace, waiting.trace_id)
        log.info("otlp trace assembled", trace_id=waiting.trace_id, workspace=waiting.workspace,
                 reason=assembly.reason, spans=len(spans), traces=stored, refused=problems)


async def _ingest_assembly(assembly: Assembly, ctx: CommandContext,
                           deps: Dependencies) -> tuple[int, list[str], list[str]]:
    """Maps the runs and ingests their traces by the path `POST /api/v2/traces` takes, under a
    command id derived from the traces themselves (the same runs ingest once). Returns the spans
    refused, why, and the ids of the traces stored or found stored."""
    refused, problems, traces = 0, [], []
    for run in assembly.runs:
        mapped = map_run(run)
        if mapped.trace is None:
            refused += len(run.spans)
            problems.append(mapped.problem or f"run {run.trace_id} makes no trace")
            log.warning("otlp run refused", run=run.trace_id, problem=mapped.problem)
        else:
            traces.append(mapped.trace)
    ids = []
    for start in range(0, len(traces), MAX_TRACES_PER_BATCH):
        batch = IngestTraces(traces=traces[start:start + MAX_TRACES_PER_BATCH])
        batch_ctx = CommandContext(f"otlp-{fingerprint(batch)[:32]}", ctx.workspace, ctx.actor, ctx.correlation_id)
        result = await ingest_traces(batch, batch_ctx, deps)
        ids += result.created + result.existing
    return refused, problems, ids
