"""Composition root of the traces service: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from services.traces.adapters.announcer import TraceAnnouncer
from services.traces.adapters.mongo_repository import MongoTraceStore
from services.traces.adapters.mongo_span_buffer import MongoSpanBuffer
from services.traces.domain.otlp_runs import QUIET_PERIOD
from services.traces.entrypoints.commands import command_routes
from services.traces.entrypoints.otlp_sweep import quiet_trace_sweeper
from services.traces.handlers import Dependencies
from services.traces.ports import SpanBuffer, TraceStore
from services.traces.settings import TracesSettings
from shared.contracts.common import utc_now
from shared.messaging.host import ServiceHost, main_loop
from shared.store.mongo import mongo_client, store_ping

SERVICE = "traces"


def build(traces: TraceStore, announce: Callable[[], None], clock: Callable[[], datetime] = utc_now,
          spans: SpanBuffer | None = None, quiet_period: timedelta = QUIET_PERIOD) -> Dependencies:
    """The handlers' dependencies: the real adapters (from `run`) or in-memory ones (unit tests)."""
    return Dependencies(traces, announce, clock, spans, quiet_period)


async def run(settings: TracesSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    traces = MongoTraceStore(database["traces"], database["trace_ingestions"])
    spans = MongoSpanBuffer(database["otlp_spans"], database["otlp_waiting"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [traces.ensure_indexes, spans.ensure_indexes]):
            announcer = TraceAnnouncer(traces, host.publisher)
            deps = build(traces, announcer.notify, spans=spans,
                         quiet_period=timedelta(seconds=settings.otlp_quiet_period_seconds))
            await host.serve(command_routes(deps), [], background=[announcer.run, quiet_trace_sweeper(deps)])
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, TracesSettings(), run)
