"""Hosting a service's messaging from start-up to a graceful stop.

A service's composition root builds its handlers and store, then hands them to a
`ServiceHost`, which connects to the broker, relays the outbox, serves the command queue and
the event subscriptions, and on SIGTERM/SIGINT stops in order: take no new messages, let
the ones in progress finish, publish what is in the relay, close.
"""

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping

import structlog

from shared.logging import configure_logging
from shared.messaging.commands import CommandRoute, CommandServer
from shared.messaging.connection import connect
from shared.messaging.events import EventPublisher
from shared.messaging.ops import Check, start_ops_server
from shared.messaging.outbox import OutboxRelay, OutboxStore
from shared.messaging.rpc import RpcClient
from shared.messaging.subscriptions import EventSubscriber, Subscription
from shared.messaging.topology import Topology
from shared.settings import CommonSettings

log = structlog.get_logger(__name__)


class ServiceHost:
    def __init__(self, name: str, settings: CommonSettings):
        self.name = name
        self.settings = settings
        self.topology = Topology(settings.bus_namespace)

    async def connect(self, outbox: OutboxStore | None = None) -> None:
        """Connects, and relays `outbox` when the service keeps its events in one."""
        self.connection = await connect(self.settings.amqp_url, f"{self.name}-service")
        self.publisher = EventPublisher(self.connection, self.topology, self.name)
        await self.publisher.start()
        self.relay = OutboxRelay(outbox, self.publisher) if outbox is not None else None

    async def rpc_client(self, start_margin: float = 0.5) -> RpcClient:
        """A client for asking other services, on this service's connection."""
        client = RpcClient(self.connection, self.topology, start_margin=start_margin)
        await client.start()
        return client

    async def serve(
        self,
        routes: Mapping[str, CommandRoute],
        subscriptions: list[Subscription],
        stop: asyncio.Event,
        store_ping: Check,
        background: list[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        """Serves until `stop` is set; `background` loops run meanwhile and are cancelled then."""
        ops = None
        if self.settings.ops_port is not None:
            checks = {"broker": self._broker_check, "store": store_ping}
            ops = await start_ops_server(checks, self.settings.ops_host, self.settings.ops_port)
        prefetch = self.settings.prefetch_count
        server = CommandServer(self.connection, self.topology, self.name, routes, prefetch)
        subscribers = [EventSubscriber(self.connection, self.topology, self.name, s, prefetch) for s in subscriptions]
        loops = [*background, *([self.relay.run] if self.relay else [])]
        tasks = [asyncio.create_task(loop()) for loop in loops]
        for subscriber in subscribers:
            await subscriber.start()
        await server.start()
        log.info("service started", namespace=self.topology.namespace)
        await stop.wait()
        log.info("service stopping")
        await server.stop()
        for subscriber in subscribers:
            await subscriber.stop()
        if self.relay is not None:
            try:
                await asyncio.wait_for(self.relay.drain(), timeout=5)
            except TimeoutError:
                log.warning("events still in the relay at shutdown; the next start publishes them")
        for task in tasks:
            task.cancel()
        await self.connection.close()
        if ops is not None:
            await ops.cleanup()

    async def _broker_check(self) -> None:
        if self.connection.is_closed or not self.connection.connected.is_set():
            raise ConnectionError("broker connection is down")


def main_loop[S: CommonSettings](service: str, settings: S, run: Callable[[S, asyncio.Event], Awaitable[None]]) -> None:
    """A service process: logging configured, then `run(settings, stop)` until SIGTERM/SIGINT."""
    configure_logging(service, settings.log_level, settings.log_format)
    run_until_signalled(lambda stop: run(settings, stop))


def run_until_signalled(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs `serve(stop)` in a new event loop; SIGTERM or SIGINT sets `stop`."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(stop)

    asyncio.run(main())
