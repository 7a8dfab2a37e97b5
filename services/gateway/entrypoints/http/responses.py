"""The API's envelopes: `{"success": true, "data": …}` and `{"success": false, "error": …}`."""

import json
from typing import Any

from aiohttp import web

from shared.contracts.errors import ErrorCode, ErrorDetail

HTTP_STATUS = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.URI_TOO_LONG: 414,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON in UTF-8, non-ASCII text as it is (`…`, not `\\u2026`); a lone surrogate, which UTF-8
    cannot hold, stays a `\\udXXX` escape."""
    text = json.dumps(body, ensure_ascii=False)
    return web.Response(body=text.encode("utf-8", "backslashreplace"), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"success": True, "data": data}, status=status, headers=headers)


def created(data: Any, replayed: bool, status: int = 201, headers: dict[str, str] | None = None) -> web.Response:
    """A create's answer; `Idempotent-Replayed: true` when it repeats the first answer to its key."""
    return ok(data, status=status, headers={**(headers or {}), **({"Idempotent-Replayed": "true"} if replayed else {})})


def page(result: dict) -> web.Response:
    return json_response(
        {
            "success": True,
            "data": result["items"],
            "pagination": {
                "page": result["page"],
                "limit": result["limit"],
                "total": result["total"],
                "hasMore": result["hasMore"],
            },
        }
    )


def message(text: str) -> web.Response:
    return json_response({"success": True, "message": text})


def error(
    code: ErrorCode,
    text: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code.value, "message": text}
    if details:
        body["details"] = [detail.model_dump() for detail in details]
    return json_response({"success": False, "error": body}, status=HTTP_STATUS[code], headers=headers)
