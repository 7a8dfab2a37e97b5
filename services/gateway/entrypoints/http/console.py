"""The web console: static files served at `/` and `/console/…`, no build step. The page talks
to the public REST API only, with the key the user signs in with (kept in the browser's
sessionStorage). These routes are not part of the API and not in its OpenAPI document."""

from pathlib import Path

from aiohttp import web

ASSETS = Path(__file__).parent / "console"
PREFIX = "/console/"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(relative: str) -> Path | None:
    """The file under ASSETS named by `relative`, or None (also for anything outside ASSETS)."""
    path = (ASSETS / relative).resolve()
    if ASSETS.resolve() not in path.parents or not path.is_file() or path.suffix not in CONTENT_TYPES:
        return None
    return path


async def serve_index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(ASSETS / "index.html", headers={**SECURITY_HEADERS, "Content-Type": "text/html"})


async def serve_asset(request: web.Request) -> web.FileResponse:
    path = _asset(request.match_info["asset"])
    if path is None:
        raise web.HTTPNotFound()
    content_type = CONTENT_TYPES[path.suffix] + "; charset=utf-8"
    return web.FileResponse(path, headers={**SECURITY_HEADERS, "Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", serve_index, allow_head=False)
    app.router.add_get(PREFIX + "{asset:.+}", serve_asset, allow_head=False)
