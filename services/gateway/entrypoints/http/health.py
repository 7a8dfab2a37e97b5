"""`/healthz`: the process answers. `/readyz`: the broker and the store answer too. `/metrics`."""

from aiohttp import web

from services.gateway.entrypoints.http.keys import READINESS_CHECKS
from shared.messaging.ops import metrics, readiness


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready, results = await readiness(request.app[READINESS_CHECKS])
    body = {"status": "ready" if ready else "not_ready", "checks": results}
    return web.json_response(body, status=200 if ready else 503)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)
