"""Composition root of the traces service: builds every part and runs them until stopped."""

import asyncio

from services.traces.adapters.announcer import TraceAnnouncer
from services.traces.adapters.mongo_repository import MongoTraceStore
from services.traces.entrypoints.commands import command_routes
from services.traces.handlers import Dependencies
from shared.messaging.host import ServiceHost, main_loop
from shared.settings import CommonSettings
from shared.store.mongo import mongo_client, store_ping

SERVICE = "traces"


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    traces = MongoTraceStore(database["traces"], database["trace_ingestions"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [traces.ensure_indexes]):
            announcer = TraceAnnouncer(traces, host.publisher)
            routes = command_routes(Dependencies(traces, announcer.notify))
            await host.serve(routes, [], background=[announcer.run])
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
