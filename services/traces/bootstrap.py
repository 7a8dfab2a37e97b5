"""Composition root of the traces service: builds every part and runs them until stopped."""

import asyncio

from services.traces.adapters.announcer import TraceAnnouncer
from services.traces.adapters.mongo_repository import MongoTraceStore
from services.traces.entrypoints.commands import command_routes
from services.traces.handlers import Dependencies
from shared.messaging.host import ServiceHost, main_loop
from shared.messaging.mongo import mongo_client, store_ping, wait_for_store
from shared.settings import CommonSettings

SERVICE = "traces"


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    traces = MongoTraceStore(database["traces"], database["trace_ingestions"])
    await wait_for_store(traces.ensure_indexes)
    host = ServiceHost(SERVICE, settings)
    await host.connect()
    announcer = TraceAnnouncer(traces, host.publisher)
    routes = command_routes(Dependencies(traces, announcer.notify))
    await host.serve(routes, [], stop, store_ping(mongo), background=[announcer.run])
    await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
