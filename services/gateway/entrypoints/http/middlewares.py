"""Request context, error envelopes and authentication, outermost first."""

import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import Counter, Histogram

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.keys import (
    CONNECTED,
    CORRELATION_ID,
    PRINCIPAL,
    RATE_LIMIT_HEADERS,
    RATE_LIMITS,
    SETTINGS,
)
from services.gateway.handlers import TooManyFailures
from shared.contracts.errors import ErrorCode, ExpectedError, Unavailable

log = structlog.get_logger(__name__)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests, by method, route and status.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("http_request_duration_seconds", "Time to answer a request, by method and route.",
                         ["method", "route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
PUBLIC_PREFIX = "/api/"
OPEN_PATHS = frozenset({"/api/openapi.json", "/api/docs"})
OPEN_PREFIX = "/api/docs/"
KEYED_PATHS = frozenset({"/v1/traces"})
"""Keyed routes outside `/api/`: OTLP's own path, where exporters post."""


@web.middleware
async def request_context(request: web.Request, handler) -> web.StreamResponse:
    """Binds the correlation id (the caller's `X-Request-Id`, or a new one), echoes it back
    and logs one line per request."""
    given = request.headers.get("X-Request-Id", "")
    correlation_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    request[CORRELATION_ID] = correlation_id
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
        response = await handler(request)
        elapsed = time.monotonic() - started
        response.headers["X-Request-Id"] = correlation_id
        principal = request.get(PRINCIPAL)
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        HTTP_REQUESTS.labels(request.method, route, str(response.status)).inc()
        HTTP_SECONDS.labels(request.method, route).observe(elapsed)
        log.info(
            "request handled",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_ms=round(elapsed * 1000, 2),
            workspace=principal.workspace if principal else None,
        )
        return response


@web.middleware
async def error_envelope(request: web.Request, handler) -> web.StreamResponse:
    """Every failure leaves as the API's error envelope, never as HTML or a stack trace."""
    try:
        return await handler(request)
    except TooManyFailures as error:
        return responses.error(error.code, error.message, headers={"Retry-After": str(error.retry_after_seconds)})
    except ExpectedError as error:
        return responses.error(error.code, error.message, error.details)
    except web.HTTPMethodNotAllowed as error:
        return responses.error(
            ErrorCode.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on {request.path}; allowed: {', '.join(sorted(error.allowed_methods))}",
            headers={"Allow": ", ".join(sorted(error.allowed_methods))},
        )
    except web.HTTPNotFound:
        return responses.error(ErrorCode.NOT_FOUND, f"No such endpoint: {request.method} {request.path}")
    except RequestPayloadError:
        return responses.error(ErrorCode.VALIDATION_ERROR, "Request body could not be read: it is not encoded as its "
                               "Content-Encoding says (gzip or deflate), or it ended early",
                               headers={"Connection": "close"})
    except web.HTTPRequestEntityTooLarge:
        return responses.error(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"Request body is larger than the limit of {request.app[SETTINGS].max_body_bytes} bytes",
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = ErrorCode.VALIDATION_ERROR if error.status < 500 else ErrorCode.INTERNAL_ERROR
        return responses.error(code, error.reason or "Request failed")
    except Exception:
        log.exception("unexpected error", method=request.method, path=request.path)
        return responses.error(ErrorCode.INTERNAL_ERROR, "Unexpected server error")


@web.middleware
async def authentication(request: web.Request, handler) -> web.StreamResponse:
    """Every `/api/` route but the API's own description (and its page's assets) needs a key; a
    path or method that matches no route is answered 404 or 405 first. Failures are counted per
    peer address (`X-Forwarded-For` is not trusted: behind a proxy every client shares the proxy's)."""
    keyed = request.path in KEYED_PATHS or (request.path.startswith(PUBLIC_PREFIX) and request.path not in OPEN_PATHS
                                            and not request.path.startswith(OPEN_PREFIX))
    if keyed and request.match_info.http_exception is None:
        authenticator = request.app[CONNECTED].authenticator
        if authenticator is None:
            raise Unavailable("The gateway is starting: it waits for the store and the broker")
        client = request.remote or ""
        request[PRINCIPAL] = await authenticator.authenticate(request.headers.get("Authorization"), client)
    return await handler(request)


@web.middleware
async def rate_limit(request: web.Request, handler) -> web.StreamResponse:
    """Per API key: `429 RATE_LIMITED` with `Retry-After` past the limit, and the
    `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers on every answer."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        return await handler(request)
    decision = request.app[RATE_LIMITS].take(principal.key_id)
    request[RATE_LIMIT_HEADERS] = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }
    if not decision.allowed:
        return responses.error(
            ErrorCode.RATE_LIMITED,
            f"Too many requests for this API key; retry in {decision.retry_after_seconds}s",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
    return await handler(request)


async def add_rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a keyed request says where its key stands, errors included."""
    response.headers.update(request.get(RATE_LIMIT_HEADERS, {}))
