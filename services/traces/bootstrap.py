"""Composition root of the traces service: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.traces.adapters.announcer import TraceAnnouncer
from services.traces.adapters.mongo_repository import MongoTraceStore
from services.traces.entrypoints.commands import command_routes
from services.traces.handlers import Dependencies
from services.traces.ports import TraceStore
from shared.contracts.common import utc_now
from shared.messaging.host import ServiceHost, main_loop
from shared.settings import CommonSettings
from shared.store.mongo import mongo_client, store_ping

SERVICE = "traces"


def build(traces: TraceStore, announce: Callable[[], None], clock: Callable[[], datetime] = utc_now) -> Dependencies:
    """The handlers' dependencies: the real adapters (from `run`) or in-memory ones (unit tests)."""
    return Dependencies(traces, announce, clock)


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    traces = MongoTraceStore(database["traces"], database["trace_ingestions"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [traces.ensure_indexes]):
            announcer = TraceAnnouncer(traces, host.publisher)
            routes = command_routes(build(traces, announcer.notify))
            await host.serve(routes, [], background=[announcer.run])
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
