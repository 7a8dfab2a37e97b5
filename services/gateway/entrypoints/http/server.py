"""Serving the gateway's application so that even a request aiohttp's HTTP parser refuses, before
any handler or middleware runs, is answered in the error envelope: a request line longer than
`MAX_REQUEST_LINE` bytes is `414 URI_TOO_LONG`, a header longer than `MAX_HEADER_FIELD` bytes or
more than `MAX_HEADERS` headers `431 HEADERS_TOO_LARGE`, anything else malformed `400`.

aiohttp answers those in plain text and has no hook for them (aio-libs/aiohttp#3287), so the
connection handler is ours: aiohttp's, with its `handle_error` answering in the envelope. The
two line limits differ so that a `LineTooLong` tells which of them was passed.
"""

import asyncio
import signal
import uuid

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from services.gateway.entrypoints.http import responses
from shared.contracts.errors import ErrorCode

log = structlog.get_logger(__name__)

MAX_REQUEST_LINE = 16 * 1024
MAX_HEADER_FIELD = 8190
MAX_HEADERS = 128


class EnvelopeRequestHandler(RequestHandler):
    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        code, text = self._refusal(status, exc)
        correlation_id = uuid.uuid4().hex
        if code in (ErrorCode.INTERNAL_ERROR, ErrorCode.TIMEOUT):
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            log.info("malformed request refused", status=responses.HTTP_STATUS[code], reason=text,
                     remote=request.remote, correlation_id=correlation_id)
        response = responses.error(code, text, headers={"X-Request-Id": correlation_id})
        response.force_close()
        return response

    def _refusal(self, status: int, exc: BaseException | None) -> tuple[ErrorCode, str]:
        if isinstance(exc, LineTooLong):
            if exc.args[1] == self.max_line_size:
                return ErrorCode.URI_TOO_LONG, f"The request line is longer than {self.max_line_size} bytes"
            return ErrorCode.HEADERS_TOO_LARGE, f"A request header is longer than {self.max_field_size} bytes"
        if isinstance(exc, BadHttpMessage) and exc.message.startswith("Too many headers"):
            return ErrorCode.HEADERS_TOO_LARGE, f"The request has more than {self.max_headers} headers"
        if isinstance(exc, HttpProcessingError) or status == 400:
            reason = exc.message.splitlines()[0].rstrip(":") if isinstance(exc, HttpProcessingError) else "bad request"
            return ErrorCode.VALIDATION_ERROR, f"Malformed HTTP request: {reason}"
        if status == 504:
            return ErrorCode.TIMEOUT, "No answer in time"
        return ErrorCode.INTERNAL_ERROR, "Unexpected server error"


class EnvelopeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An `AppRunner` whose connections are handled by `EnvelopeRequestHandler`."""

    def __init__(self, app: web.Application, **kwargs):
        super().__init__(app, max_line_size=MAX_REQUEST_LINE, max_field_size=MAX_HEADER_FIELD,
                         max_headers=MAX_HEADERS, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return EnvelopeServer(server.request_handler, request_factory=server.request_factory,
                              handler_cancellation=server.handler_cancellation, loop=server._loop, **server._kwargs)


def run(app: web.Application, host: str, port: int, shutdown_timeout: float = 10.0) -> None:
    """As `web.run_app`: serves until SIGINT or SIGTERM, then stops within `shutdown_timeout`."""
    asyncio.run(_serve(app, host, port, shutdown_timeout))


async def _serve(app: web.Application, host: str, port: int, shutdown_timeout: float) -> None:
    runner = GatewayRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await web.TCPSite(runner, host, port).start()
        await stopping.wait()
    finally:
        await runner.cleanup()
