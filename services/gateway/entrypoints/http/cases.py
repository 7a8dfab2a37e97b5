"""The deprecated Cases interface: `/api/v2/cases` behaves exactly as `/api/v2/issues` (a case
is an issue: same ids, fields and errors), and every answer says it is deprecated, when it
goes away, and where to go instead (RFC 9745 `Deprecation`, RFC 8594 `Sunset`, and a
`Link` to the successor)."""

from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from aiohttp import web

DEPRECATED_ON = datetime(2025, 8, 1, tzinfo=UTC)
SUNSET_ON = datetime(2027, 6, 30, tzinfo=UTC)
CASES = "/api/v2/cases"


def _successor_of(path: str) -> str:
    """The same place under /api/v2/issues, percent-encoded: nothing the caller put in the path
    can end the link's `<…>` or add a parameter or another link."""
    return "/api/v2/issues" + quote(path.removeprefix(CASES), safe="/")


def _mark(response: web.StreamResponse, path: str) -> None:
    response.headers["Deprecation"] = f"@{int(DEPRECATED_ON.timestamp())}"
    response.headers["Sunset"] = format_datetime(SUNSET_ON, usegmt=True)
    response.headers["Link"] = f'<{_successor_of(path)}>; rel="successor-version"'


@web.middleware
async def deprecation_headers(request: web.Request, handler) -> web.StreamResponse:
    """Marks every answer under /api/v2/cases, errors included."""
    response = await handler(request)
    if request.path == CASES or request.path.startswith(CASES + "/"):
        _mark(response, request.path)
    return response

