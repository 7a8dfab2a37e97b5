"""Hosting a service's messaging from start-up to a graceful stop.

A service's composition root builds its handlers and store, then hands them to a
`ServiceHost`, which serves the ops endpoint at once (alive, and not ready until the store and
the broker answer), waits for the store and the broker (giving up if asked to stop), relays
the outbox, serves the command queue and the event subscriptions, and on SIGTERM/SIGINT stops
in order: take no new messages, let the ones in progress finish, publish what is in the relay,
close.
"""

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog

from shared.logging import configure_logging
from shared.messaging.commands import CommandRoute, CommandServer
from shared.messaging.connection import connect
from shared.messaging.events import EventPublisher
from shared.messaging.ops import Check, start_ops_server
from shared.messaging.outbox import Event, OutboxRelay, OutboxStore
from shared.messaging.rpc import RpcClient
from shared.messaging.subscriptions import EventSubscriber, Subscription
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.store.mongo import wait_for_store

log = structlog.get_logger(__name__)


class ServiceHost:
    def __init__(self, name: str, settings: CommonSettings, stop: asyncio.Event):
        self.name = name
        self.settings = settings
        self.stop = stop
        self.topology = Topology(settings.bus_namespace)
        self.connection = None
        self._ops = None

    async def start(
        self,
        store_ping: Check,
        prepare: list[Callable[[], Awaitable[None]]],
        outbox: OutboxStore | None = None,
        work: Iterable[type[Event]] = (),
    ) -> bool:
        """Serves the ops endpoint, runs `prepare` (indexes) once the store answers, connects to
        the broker, and relays `outbox` when the service keeps its events in one (messages of the
        `work` types to the service's work exchange). False if asked to stop before all that
        was done."""
        if self.settings.ops_port is not None:
            checks = {"broker": self._broker_check, "store": store_ping}
            self._ops = await start_ops_server(checks, self.settings.ops_host, self.settings.ops_port)
        for step in prepare:
            if not await wait_for_store(step, stop=self.stop):
                return False
        self.connection = await connect(self.settings.amqp_url, f"{self.name}-service", stop=self.stop)
        if self.connection is None:
            return False
        self.publisher = EventPublisher(self.connection, self.topology, self.name, [m.routing_key for m in work])
        await self.publisher.start()
        self.relay = OutboxRelay(outbox, self.publisher) if outbox is not None else None
        return True

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        if self._ops is not None:
            await self._ops.cleanup()

    async def rpc_client(self, start_margin: float = 0.5) -> RpcClient:
        """A client for asking other services, on this service's connection."""
        client = RpcClient(self.connection, self.topology, start_margin=start_margin)
        await client.start()
        return client

    async def serve(
        self,
        routes: Mapping[str, CommandRoute],
        subscriptions: list[Subscription],
        background: list[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        """Serves until asked to stop; `background` loops run meanwhile and are cancelled then."""
        prefetch = self.settings.prefetch_count
        server = CommandServer(self.connection, self.topology, self.name, routes, prefetch)
        subscribers = [EventSubscriber(self.connection, self.topology, self.name, s, prefetch) for s in subscriptions]
        loops = [*background, *([self.relay.run] if self.relay else [])]
        tasks = [asyncio.create_task(loop()) for loop in loops]
        for subscriber in subscribers:
            await subscriber.start()
        await server.start()
        log.info("service started", namespace=self.topology.namespace)
        await self.stop.wait()
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

    async def _broker_check(self) -> None:
        if self.connection is None or self.connection.is_closed or not self.connection.connected.is_set():
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
