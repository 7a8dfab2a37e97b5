"""Composition root of the issues service: builds every part and runs them until stopped."""

import asyncio
import signal

import structlog
from pymongo import AsyncMongoClient

from shared.logging import configure_logging
from shared.messaging.commands import CommandServer
from shared.messaging.connection import connect
from shared.messaging.events import EventPublisher
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from services.issues.adapters.mongo_repository import MongoIssueRepository
from services.issues.entrypoints.commands import command_routes
from services.issues.handlers import Dependencies

SERVICE = "issues"
log = structlog.get_logger(__name__)


async def wait_for_store(repository: MongoIssueRepository, retry_interval: float = 2.0) -> None:
    while True:
        try:
            await repository.ensure_indexes()
            return
        except Exception as error:
            log.warning("store unreachable, retrying", error=repr(error), retry_in_s=retry_interval)
            await asyncio.sleep(retry_interval)


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    topology = Topology(settings.bus_namespace)
    mongo = AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        appname=SERVICE,
        serverSelectionTimeoutMS=int(settings.store_timeout_seconds * 1000),
        timeoutMS=int(settings.store_timeout_seconds * 1000),
    )
    repository = MongoIssueRepository(mongo[settings.mongodb_database]["issues"])
    await wait_for_store(repository)
    connection = await connect(settings.amqp_url, f"{SERVICE}-service")
    publisher = EventPublisher(connection, topology, SERVICE)
    await publisher.start()
    relay = OutboxRelay(repository, publisher)
    server = CommandServer(
        connection, topology, SERVICE, command_routes(Dependencies(repository, relay.notify)), settings.prefetch_count
    )
    relay_task = asyncio.create_task(relay.run())
    await server.start()
    log.info("service started", namespace=settings.bus_namespace)
    await stop.wait()
    log.info("service stopping")
    await server.stop()
    await asyncio.wait_for(relay.drain(), timeout=5)
    relay_task.cancel()
    await connection.close()
    await mongo.close()


def main() -> None:
    settings = CommonSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    asyncio.run(serve())
