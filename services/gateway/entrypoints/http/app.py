"""The gateway's aiohttp application: its middlewares and routes. What it runs on is wired in
by `bootstrap.build`."""

from aiohttp import web

from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.entrypoints.http import console, health, openapi, otlp, routes
from services.gateway.entrypoints.http.cases import deprecation_headers
from services.gateway.entrypoints.http.keys import CONNECTED, RATE_LIMITS, SETTINGS, Connected
from services.gateway.entrypoints.http.middlewares import (
    add_rate_limit_headers,
    authentication,
    error_envelope,
    rate_limit,
    request_context,
)
from services.gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, deprecation_headers, otlp.otlp_answers, error_envelope, authentication,
                     rate_limit],
    )
    app[SETTINGS] = settings
    app[RATE_LIMITS] = TokenBuckets(settings.rate_limit_burst, settings.rate_limit_per_second)
    app[CONNECTED] = Connected()
    app.on_response_prepare.append(add_rate_limit_headers)
    health.add_routes(app)
    openapi.add_routes(app)
    routes.add_routes(app)
    otlp.add_routes(app)
    console.add_routes(app)
    return app
