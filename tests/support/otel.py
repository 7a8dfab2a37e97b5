"""Spans made by the real OpenTelemetry SDK, encoded as its OTLP exporter sends them."""

import base64
import json
from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, Status, StatusCode, set_span_in_context

T0 = 1_754_824_920_000_000_000
"""2025-08-10T11:22:00Z in Unix nanoseconds."""


def at(milliseconds: int) -> int:
    return T0 + milliseconds * 1_000_000


class Recorder:
    """An SDK tracer whose finished spans are kept in memory; times are given explicitly."""

    def __init__(self, service: str = "weather-service", limits: SpanLimits | None = None,
                 processor: SpanProcessor | None = None):
        """`processor`: where finished spans go too (the OTLP exporter, in the end-to-end tests)."""
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}), span_limits=limits)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        if processor is not None:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("tests.otel", "1.0")

    def start(self, name: str, start_ms: int, attributes: dict, parent: Span | None = None) -> Span:
        context = set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(name, context=context, start_time=at(start_ms), attributes=attributes)

    def span(self, name: str, start_ms: int, end_ms: int, attributes: dict, parent: Span | None = None,
             error: Exception | None = None) -> Span:
        span = self.start(name, start_ms, attributes, parent)
        if error is not None:
            span.record_exception(error, timestamp=at(end_ms))
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end(at(end_ms))
        return span

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


def protobuf(spans: Sequence[ReadableSpan]) -> bytes:
    """The body the OTLP/HTTP protobuf exporter posts for these spans."""
    return encode_spans(spans).SerializeToString()


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The same export in OTLP/JSON: lowerCamelCase keys, integer enums, hex trace and span ids."""
    document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource in document.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def hex_trace_id(span: Span | ReadableSpan) -> str:
    return format(span.get_span_context().trace_id, "032x")


def hex_span_id(span: Span | ReadableSpan) -> str:
    return format(span.get_span_context().span_id, "016x")
