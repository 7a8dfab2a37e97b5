"""The gateway's aiohttp application, built the same way by `main` and by tests."""

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.entrypoints.http import cases, fixes, health, issues, openapi, shadow_tests, traces
from services.gateway.entrypoints.http.cases import deprecation_headers
from services.gateway.entrypoints.http.keys import CONNECTED, RATE_LIMITS, READINESS_CHECKS, SETTINGS, Connected
from services.gateway.entrypoints.http.middlewares import (
    add_rate_limit_headers,
    authentication,
    error_envelope,
    rate_limit,
    request_context,
)
from services.gateway.handlers import Authenticator, CommandBus, ensure_initial_key
from services.gateway.settings import GatewaySettings
from shared.messaging.connection import connect
from shared.messaging.rpc import RpcClient
from shared.messaging.topology import Topology
from shared.store.mongo import mongo_client, store_ping, wait_for_store

log = structlog.get_logger(__name__)


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, deprecation_headers, error_envelope, authentication, rate_limit],
    )
    app[SETTINGS] = settings
    app[RATE_LIMITS] = TokenBuckets(settings.rate_limit_burst, settings.rate_limit_per_second)
    app[CONNECTED] = Connected()
    app.cleanup_ctx.append(_resources)
    app.on_response_prepare.append(add_rate_limit_headers)
    health.add_routes(app)
    openapi.add_routes(app)
    issues.add_routes(app)
    cases.add_routes(app)
    fixes.add_routes(app)
    traces.add_routes(app)
    shadow_tests.add_routes(app)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """Serves at once (alive, not ready) and connects in the background: until the store and
    the broker answer, API requests get 503 and the process still stops when asked."""
    settings = app[SETTINGS]
    mongo = mongo_client(settings, "gateway")
    keys = MongoApiKeyStore(mongo[settings.mongodb_database]["api_keys"])
    connected = app[CONNECTED]

    async def broker_check() -> None:
        if connected.bus is None or not connected.bus.rpc.connected:
            raise ConnectionError("broker connection is down")

    app[READINESS_CHECKS] = {"broker": broker_check, "store": store_ping(mongo)}
    connecting = asyncio.create_task(_connect(app, keys))
    connecting.add_done_callback(_stop_if_failed(connected))
    yield
    connecting.cancel()
    await asyncio.gather(connecting, return_exceptions=True)
    if connected.connection is not None:
        await connected.connection.close()
    await mongo.close()


def _stop_if_failed(connected: Connected) -> Callable[[asyncio.Task], None]:
    """A start-up that failed stops the process (exit code 1, see bootstrap) instead of leaving
    it alive and never ready."""

    def check(task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        connected.failure = task.exception()
        log.error("start-up failed; stopping", error=str(connected.failure), exc_info=connected.failure)
        os.kill(os.getpid(), signal.SIGTERM)

    return check


async def _connect(app: web.Application, keys: MongoApiKeyStore) -> None:
    settings = app[SETTINGS]
    await wait_for_store(keys.ensure_indexes)
    if settings.init_api_key:
        principal = await ensure_initial_key(keys, settings.init_api_key)
        log.info("initial API key ready", workspace=principal.workspace, key_id=principal.key_id)
    connected = app[CONNECTED]
    connected.connection = await connect(settings.amqp_url, "gateway")
    rpc = RpcClient(connected.connection, Topology(settings.bus_namespace),
                    start_margin=settings.rpc_start_margin_seconds)
    await rpc.start()
    failures = TokenBuckets(settings.auth_failure_burst, settings.auth_failure_per_second)
    connected.authenticator = Authenticator(keys, settings.api_key_cache_seconds, failures)
    connected.bus = CommandBus(rpc, settings.rpc_timeout_seconds)
    log.info("service started", namespace=settings.bus_namespace)
