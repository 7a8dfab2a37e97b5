"""`/healthz`: the process answers. `/readyz`: the broker and the store answer too. `/metrics`."""

from aiohttp import web

from services.gateway.entrypoints.http.keys import READINESS_CHECKS
from shared.messaging.ops import add_ops_routes


def add_routes(app: web.Application) -> None:
    add_ops_routes(app, lambda request: request.app[READINESS_CHECKS])
