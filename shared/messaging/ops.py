"""A service's operations endpoints, for probes and Prometheus: `/healthz` (the process
answers), `/readyz` (the broker and the store answer; 503 otherwise) and `/metrics`."""

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

type Check = Callable[[], Awaitable[None]]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def readiness(checks: dict[str, Check]) -> tuple[bool, dict[str, str]]:
    results = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=2.0)
            results[name] = "ok"
        except Exception as error:
            results[name] = f"unavailable: {type(error).__name__}"
    return all(result == "ok" for result in results.values()), results


def add_ops_routes(app: web.Application, checks_for: Callable[[web.Request], dict[str, Check]]) -> None:
    """The three endpoints on `app`; `/readyz` runs the checks `checks_for` gives for the request."""

    async def readyz(request: web.Request) -> web.Response:
        ready, results = await readiness(checks_for(request))
        body = {"status": "ready" if ready else "not_ready", "checks": results}
        return web.json_response(body, status=200 if ready else 503)

    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)


async def start_ops_server(checks: dict[str, Check], host: str, port: int) -> web.AppRunner:
    app = web.Application()
    add_ops_routes(app, lambda _request: checks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
