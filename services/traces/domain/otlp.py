"""OTLP trace exports, decoded with `opentelemetry-proto` into spans that are plain values.

Both OTLP/HTTP encodings are read: binary protobuf, and JSON as the OTLP specification writes
it (trace and span ids in hex rather than protobuf's base64, enums as integers, unknown fields
ignored). A request that cannot be decoded is an `OtlpError` (the whole export is refused); a
span that decodes but cannot be used (bad ids, times, attributes too deep) is rejected alone,
with its reason, as OTLP's partial success reports it.
"""

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

MAX_SPANS_PER_EXPORT = 10_000
MAX_ATTRIBUTES_PER_SPAN = 20_000
MAX_EVENTS_PER_SPAN = 128
MAX_VALUE_DEPTH = 32
PROTOBUF, JSON = "application/x-protobuf", "application/json"


class OtlpError(Exception):
    """The export as a whole is refused. `too_large` and `unsupported` ask for 413 and 415;
    anything else is bad data (400), which OTLP clients do not retry."""

    def __init__(self, message: str, kind: str = "bad_data"):
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class SpanRecord:
    """One span: ids in lowercase hex, times in Unix nanoseconds, attribute values as JSON-like
    values (kvlists as dicts, arrays as lists, bytes as base64 text)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    failed: bool
    status_message: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    dropped_attributes: int = 0
    """How many attributes the sender dropped (its attribute count limit)."""


@dataclass
class DecodedExport:
    spans: list[SpanRecord] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    """Why each rejected span was rejected."""


def decode_export(body: bytes, content_type: str) -> DecodedExport:
    """The spans of an OTLP/HTTP trace export, by its Content-Type (protobuf or JSON)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == PROTOBUF:
        request = _from_protobuf(body)
    elif media_type == JSON:
        request = _from_json(body)
    else:
        raise OtlpError(f"Content-Type must be {PROTOBUF} or {JSON}, not {media_type or 'absent'}", "unsupported")
    return spans_of(request)


def _from_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError) as error:
        raise OtlpError(f"the body is not a protobuf ExportTraceServiceRequest: {error}") from None
    if not request.resource_spans and len(UnknownFieldSet(request)):
        raise OtlpError("the body is not a protobuf ExportTraceServiceRequest: it holds no resourceSpans")
    return request


def _from_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise OtlpError(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise OtlpError("the body must be a JSON object (an ExportTraceServiceRequest)")
    _hex_ids_as_base64(document)
    try:
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True,
                                     max_recursion_depth=64)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as error:
        raise OtlpError(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {error}") from None


_ID_BYTES = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def _hex_ids_as_base64(document: dict) -> None:
    """OTLP/JSON writes ids in hex, protobuf's JSON mapping reads base64: ids are rewritten in
    place (base64 ids, which some exporters send, are left as they are)."""
    for resource_spans in _list(document.get("resourceSpans")):
        for scope_spans in _list(_get(resource_spans, "scopeSpans")):
            for span in _list(_get(scope_spans, "spans")):
                _rewrite_ids(span)
                for link in _list(_get(span, "links")):
                    _rewrite_ids(link)


def _rewrite_ids(message: Any) -> None:
    if not isinstance(message, dict):
        return
    for key, size in _ID_BYTES.items():
        value = message.get(key)
        if isinstance(value, str) and len(value) == 2 * size:
            try:
                message[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                pass


def _get(message: Any, key: str) -> Any:
    return message.get(key) if isinstance(message, dict) else None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def spans_of(request: ExportTraceServiceRequest) -> DecodedExport:
    count = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    if count > MAX_SPANS_PER_EXPORT:
        raise OtlpError(f"an export holds at most {MAX_SPANS_PER_EXPORT} spans, this one {count} "
                        "(OTEL_BSP_MAX_EXPORT_BATCH_SIZE sets the SDK's batch size)", "too_large")
    decoded = DecodedExport()
    for resource_spans in request.resource_spans:
        try:
            resource = _attributes(resource_spans.resource.attributes)
        except ValueError as error:
            spans = [span for scope in resource_spans.scope_spans for span in scope.spans]
            decoded.rejected.extend(f"resource: {error}" for _ in spans)
            continue
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    decoded.spans.append(_record(span, resource))
                except ValueError as error:
                    decoded.rejected.append(f"span {span.span_id.hex() or '(no id)'} {span.name!r}: {error}")
    return decoded


def _record(span: Span, resource: Mapping[str, Any]) -> SpanRecord:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise ValueError("traceId must be 16 bytes, not all zero")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise ValueError("spanId must be 8 bytes, not all zero")
    if span.parent_span_id and len(span.parent_span_id) != 8:
        raise ValueError("parentSpanId must be 8 bytes or empty")
    if not span.start_time_unix_nano or span.end_time_unix_nano < span.start_time_unix_nano:
        raise ValueError("a span needs a start time and an end time not before it")
    events = tuple(
        SpanEvent(event.name, event.time_unix_nano, _attributes(event.attributes))
        for event in span.events[:MAX_EVENTS_PER_SPAN]
    )
    parent = span.parent_span_id.hex() if any(span.parent_span_id) else None
    return SpanRecord(
        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), parent_span_id=parent, name=span.name,
        start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
        failed=span.status.code == Status.STATUS_CODE_ERROR, status_message=span.status.message,
        attributes=_attributes(span.attributes), resource=resource, events=events,
        dropped_attributes=span.dropped_attributes_count,
    )


def _attributes(pairs) -> dict[str, Any]:
    if len(pairs) > MAX_ATTRIBUTES_PER_SPAN:
        raise ValueError(f"more than {MAX_ATTRIBUTES_PER_SPAN} attributes")
    attributes = {}
    for pair in pairs:
        if "\x00" in pair.key:
            raise ValueError("an attribute key holds a NUL character")
        attributes[pair.key] = _value(pair.value, 1)
    return attributes


def _value(value: AnyValue, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind in ("array_value", "kvlist_value") and depth > MAX_VALUE_DEPTH:
        raise ValueError(f"an attribute value nests deeper than {MAX_VALUE_DEPTH} levels")
    if kind == "array_value":
        return [_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key.replace("\x00", ""): _value(pair.value, depth + 1) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value":
        return value.double_value if math.isfinite(value.double_value) else str(value.double_value)
    return getattr(value, kind) if kind else None

