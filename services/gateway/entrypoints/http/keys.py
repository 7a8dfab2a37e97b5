"""Typed keys for what the gateway keeps on the application and on each request."""

from aiohttp import web

from services.gateway.domain.api_keys import Principal
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.handlers import Authenticator, CommandBus
from services.gateway.settings import GatewaySettings

SETTINGS = web.AppKey("settings", GatewaySettings)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
BUS = web.AppKey("bus", CommandBus)
READINESS_CHECKS = web.AppKey("readiness_checks", dict)
RATE_LIMITS = web.AppKey("rate_limits", TokenBuckets)

CORRELATION_ID = web.RequestKey("correlation_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
