"""`/healthz`: the process answers. `/readyz`: the broker and the store answer too."""

import asyncio

from aiohttp import web

from services.gateway.entrypoints.http.keys import READINESS_CHECKS


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    results = {}
    for name, check in request.app[READINESS_CHECKS].items():
        try:
            await asyncio.wait_for(check(), timeout=2.0)
            results[name] = "ok"
        except Exception as error:
            results[name] = f"unavailable: {type(error).__name__}"
    ready = all(result == "ok" for result in results.values())
    body = {"status": "ready" if ready else "not_ready", "checks": results}
    return web.json_response(body, status=200 if ready else 503)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
