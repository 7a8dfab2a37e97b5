"""Composition root of the gateway: its HTTP application over the real adapters (the MongoDB
store of API keys, RPC over RabbitMQ) or fake ones, served until stopped."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import structlog
from aiohttp import web

from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.domain.api_keys import IssuedKey
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.entrypoints.http import server
from services.gateway.entrypoints.http.app import create_app
from services.gateway.entrypoints.http.keys import CONNECTED, READINESS_CHECKS, SETTINGS, Connected
from services.gateway.handlers import Authenticator, CommandBus, create_api_key, ensure_initial_key
from services.gateway.ports import CommandChannel, KeyStore
from services.gateway.settings import GatewaySettings
from shared.logging import configure_logging
from shared.messaging.connection import connect
from shared.messaging.ops import Check
from shared.messaging.rpc import RpcClient
from shared.messaging.topology import Topology
from shared.store.mongo import mongo_client, store_ping, wait_for_store

SERVICE = "gateway"

log = structlog.get_logger(__name__)


class Adapters(Protocol):
    """What the gateway runs on, opened inside the running loop: `checks` answer `/readyz` at
    once; `key_store` returns once the store answers, `commands` once the broker does."""

    checks: dict[str, Check]

    async def key_store(self) -> KeyStore: ...

    async def commands(self) -> CommandChannel: ...

    async def close(self) -> None: ...


class LiveAdapters:
    def __init__(self, settings: GatewaySettings):
        self._settings = settings
        self._mongo = mongo_client(settings, SERVICE)
        self._keys = MongoApiKeyStore(self._mongo[settings.mongodb_database]["api_keys"])
        self._connection = None
        self._rpc: RpcClient | None = None
        self.checks = {"broker": self._broker_check, "store": store_ping(self._mongo)}

    async def _broker_check(self) -> None:
        if self._rpc is None or not self._rpc.connected:
            raise ConnectionError("broker connection is down")

    async def key_store(self) -> KeyStore:
        await wait_for_store(self._keys.ensure_indexes)
        return self._keys

    async def commands(self) -> CommandChannel:
        self._connection = await connect(self._settings.amqp_url, SERVICE)
        rpc = RpcClient(self._connection, Topology(self._settings.bus_namespace),
                        start_margin=self._settings.rpc_start_margin_seconds)
        await rpc.start()
        self._rpc = rpc
        return rpc

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        await self._mongo.close()


def terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def build(settings: GatewaySettings, adapters: Callable[[GatewaySettings], Adapters] = LiveAdapters,
          stop: Callable[[], None] = terminate_self) -> web.Application:
    """The application, which opens `adapters(settings)` when it starts; a start-up that fails
    calls `stop` (by default the process stops, and `main` exits 1) instead of leaving the
    gateway alive and never ready."""
    app = create_app(settings)
    app.cleanup_ctx.append(_running(adapters, stop))
    return app


def _running(open_adapters: Callable[[GatewaySettings], Adapters], stop: Callable[[], None]):
    async def running(app: web.Application) -> AsyncIterator[None]:
        """Serves at once (alive, not ready) and connects in the background: until the store and
        the broker answer, API requests get 503 and the process still stops when asked."""
        adapters = open_adapters(app[SETTINGS])
        app[READINESS_CHECKS] = adapters.checks
        connecting = asyncio.create_task(_connect(app, adapters))
        connecting.add_done_callback(_stop_if_failed(app[CONNECTED], stop))
        yield
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await adapters.close()

    return running


def _stop_if_failed(connected: Connected, stop: Callable[[], None]) -> Callable[[asyncio.Task], None]:
    def check(task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        connected.failure = task.exception()
        log.error("start-up failed; stopping", error=str(connected.failure), exc_info=connected.failure)
        stop()

    return check


async def _connect(app: web.Application, adapters: Adapters) -> None:
    settings = app[SETTINGS]
    keys = await adapters.key_store()
    if settings.init_api_key:
        principal = await ensure_initial_key(keys, settings.init_api_key)
        log.info("initial API key ready", workspace=principal.workspace, key_id=principal.key_id)
    channel = await adapters.commands()
    failures = TokenBuckets(settings.auth_failure_burst, settings.auth_failure_per_second)
    connected = app[CONNECTED]
    connected.authenticator = Authenticator(keys, settings.api_key_cache_seconds, failures)
    connected.bus = CommandBus(channel, settings.rpc_timeout_seconds)
    log.info("service started", namespace=settings.bus_namespace)


async def create_key(settings: GatewaySettings, workspace: str, owner: str | None) -> IssuedKey:
    """A new API key for `workspace`, written straight into the store (`cli create-key`)."""
    mongo = mongo_client(settings, f"{SERVICE}-cli")
    try:
        store = MongoApiKeyStore(mongo[settings.mongodb_database]["api_keys"])
        await store.ensure_indexes()
        return await create_api_key(store, workspace, owner)
    finally:
        await mongo.close()


def main() -> None:
    settings = GatewaySettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    app = build(settings)
    server.run(app, settings.gateway_host, settings.gateway_port, shutdown_timeout=10)
    if app[CONNECTED].failure is not None:
        sys.exit(1)
