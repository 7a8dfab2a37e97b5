"""The gateway's aiohttp application, built the same way by `main` and by tests."""

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.entrypoints.http import cases, fixes, health, issues, openapi, shadow_tests, traces
from services.gateway.entrypoints.http.cases import deprecation_headers
from services.gateway.entrypoints.http.keys import AUTHENTICATOR, BUS, RATE_LIMITS, READINESS_CHECKS, SETTINGS
from services.gateway.entrypoints.http.middlewares import authentication, error_envelope, rate_limit, request_context
from services.gateway.handlers import Authenticator, CommandBus, ensure_initial_key
from services.gateway.settings import GatewaySettings
from shared.messaging.connection import connect
from shared.messaging.mongo import mongo_client, wait_for_store
from shared.messaging.rpc import RpcClient
from shared.messaging.topology import Topology

log = structlog.get_logger(__name__)


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, deprecation_headers, error_envelope, authentication, rate_limit],
    )
    app[SETTINGS] = settings
    app[RATE_LIMITS] = TokenBuckets(settings.rate_limit_burst, settings.rate_limit_per_second)
    app.cleanup_ctx.append(_resources)
    health.add_routes(app)
    openapi.add_routes(app)
    issues.add_routes(app)
    cases.add_routes(app)
    fixes.add_routes(app)
    traces.add_routes(app)
    shadow_tests.add_routes(app)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    mongo = mongo_client(settings, "gateway")
    keys = MongoApiKeyStore(mongo[settings.mongodb_database]["api_keys"])
    await wait_for_store(keys.ensure_indexes)
    if settings.init_api_key:
        principal = await ensure_initial_key(keys, settings.init_api_key)
        log.info("initial API key ready", workspace=principal.workspace, key_id=principal.key_id)
    connection = await connect(settings.amqp_url, "gateway")
    rpc = RpcClient(connection, Topology(settings.bus_namespace), start_margin=settings.rpc_start_margin_seconds)
    await rpc.start()

    async def broker_check() -> None:
        if not rpc.connected:
            raise ConnectionError("broker connection is down")

    app[AUTHENTICATOR] = Authenticator(keys, settings.api_key_cache_seconds)
    app[BUS] = CommandBus(rpc, settings.rpc_timeout_seconds)
    app[READINESS_CHECKS] = {"broker": broker_check, "store": keys.ping}
    log.info("service started", namespace=settings.bus_namespace)
    yield
    await connection.close()
    await mongo.close()
