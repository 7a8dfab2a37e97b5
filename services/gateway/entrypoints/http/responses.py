"""The API's envelopes: `{"success": true, "data": …}` and `{"success": false, "error": …}`."""

from typing import Any

from aiohttp import web

from shared.contracts.errors import ErrorCode, ErrorDetail

HTTP_STATUS = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
}


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"success": True, "data": data}, status=status, headers=headers)


def created(data: Any, replayed: bool, status: int = 201, headers: dict[str, str] | None = None) -> web.Response:
    """A create's answer; `Idempotent-Replayed: true` when it repeats the first answer to its key."""
    return ok(data, status=status, headers={**(headers or {}), **({"Idempotent-Replayed": "true"} if replayed else {})})


def page(result: dict) -> web.Response:
    return web.json_response(
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
    return web.json_response({"success": True, "message": text})


def error(
    code: ErrorCode,
    text: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code.value, "message": text}
    if details:
        body["details"] = [detail.model_dump() for detail in details]
    return web.json_response({"success": False, "error": body}, status=HTTP_STATUS[code], headers=headers)
