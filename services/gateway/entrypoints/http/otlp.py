"""`POST /v1/traces` (and `POST /api/otlp/v1/traces`): OTLP/HTTP trace exports (protobuf or
JSON, gzip or deflate), answered as OTLP expects: an `ExportTraceServiceResponse` (with
`partial_success` when spans were refused), or a `google.rpc.Status` body on failure, in the
request's encoding. The body is handed to the traces service as it came (decompressed);
decoding and everything after is its business."""

import json

from aiohttp import web
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.keys import SETTINGS
from shared.contracts.traces import IngestOtlpExport

OTLP_PATH = "/v1/traces"
API_OTLP_PATH = "/api/otlp/v1/traces"
OTLP_PATHS = frozenset({OTLP_PATH, API_OTLP_PATH})
"""OTLP's own path at the root, and the same under `/api/` for gateways that are only reached
there (behind a proxy forwarding `/api/`): an exporter appends `/v1/traces` to
`OTEL_EXPORTER_OTLP_ENDPOINT`, so `<gateway>/api/otlp` reaches the second."""
PROTOBUF, JSON = "application/x-protobuf", "application/json"
ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})
"""What aiohttp decompresses as it reads (OTLP asks for gzip at least)."""

GRPC_CODES = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED,
              404: code_pb2.NOT_FOUND, 405: code_pb2.UNIMPLEMENTED, 409: code_pb2.ABORTED,
              413: code_pb2.INVALID_ARGUMENT, 415: code_pb2.INVALID_ARGUMENT, 429: code_pb2.RESOURCE_EXHAUSTED,
              503: code_pb2.UNAVAILABLE, 504: code_pb2.DEADLINE_EXCEEDED}
RETRY_AFTER_SECONDS = "2"


def _media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _encoded(request: web.Request, message, status: int, headers: dict[str, str] | None = None) -> web.Response:
    if _media_type(request) == PROTOBUF:
        return web.Response(body=message.SerializeToString(), status=status, headers=headers, content_type=PROTOBUF)
    text = json.dumps(json_format.MessageToDict(message))
    return web.Response(text=text, status=status, headers=headers, content_type=JSON)


def status_response(request: web.Request, status: int, message: str,
                    headers: dict[str, str] | None = None) -> web.Response:
    """A failure as OTLP/HTTP answers it: a `google.rpc.Status`; 429 and 503 say when to retry."""
    headers = dict(headers or {})
    if status in (429, 503):
        headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    body = status_pb2.Status(code=GRPC_CODES.get(status, code_pb2.INTERNAL), message=message)
    return _encoded(request, body, status, headers)


async def export_traces(request: web.Request) -> web.Response:
    media_type = _media_type(request)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if media_type not in (PROTOBUF, JSON):
        return status_response(request, 415, f"Content-Type must be {PROTOBUF} or {JSON}, "
                                             f"not {media_type or 'absent'}")
    if encoding not in ENCODINGS:
        return status_response(request, 415, f"Content-Encoding must be gzip, deflate or none, not {encoding}")
    body = await request.read()
    command = IngestOtlpExport.of(media_type, body)
    result = await send(request, command, timeout=request.app[SETTINGS].trace_ingest_timeout_seconds)
    answer = ExportTraceServiceResponse()
    if result["rejectedSpans"] or result["errorMessage"]:
        answer.partial_success.rejected_spans = result["rejectedSpans"]
        answer.partial_success.error_message = result["errorMessage"]
    return _encoded(request, answer, 200)


@web.middleware
async def otlp_answers(request: web.Request, handler) -> web.StreamResponse:
    """On the OTLP paths, every failure the API would answer with its error envelope (a bad key,
    a rate limit, a body too large or not decodable, the traces service's error) leaves as a
    `google.rpc.Status` instead, with the same status code and headers."""
    response = await handler(request)
    if request.path not in OTLP_PATHS or response.status < 400 or response.content_type != JSON:
        return response
    try:
        message = json.loads(response.body)["error"]["message"]
    except (ValueError, TypeError, KeyError):
        return response
    kept = {name: value for name, value in response.headers.items()
            if name.lower() not in ("content-type", "content-length")}
    return status_response(request, response.status, message, kept)


def add_routes(app: web.Application) -> None:
    for path in sorted(OTLP_PATHS):
        app.router.add_post(path, export_traces)
