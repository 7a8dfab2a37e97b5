"""Typed keys for what the gateway keeps on the application and on each request."""

from dataclasses import dataclass

from aiohttp import web

from services.gateway.domain.api_keys import Principal
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.handlers import Authenticator, CommandBus
from services.gateway.settings import GatewaySettings


@dataclass
class Connected:
    """What the gateway has once the store and the broker answer (None until then)."""

    authenticator: Authenticator | None = None
    bus: CommandBus | None = None
    failure: BaseException | None = None


SETTINGS = web.AppKey("settings", GatewaySettings)
CONNECTED = web.AppKey("connected", Connected)
READINESS_CHECKS = web.AppKey("readiness_checks", dict)
RATE_LIMITS = web.AppKey("rate_limits", TokenBuckets)

CORRELATION_ID = web.RequestKey("correlation_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
RATE_LIMIT_HEADERS = web.RequestKey("rate_limit_headers", dict)
