"""Malformed or oversized OTLP exports get a clear error; nothing escapes as an exception."""

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from google.protobuf.json_format import MessageToJson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import SpanLimits

from services.traces.domain.otlp import MAX_SPANS_PER_EXPORT, OtlpError, SpanEvent, decode_export
from services.traces.domain.otlp_mapping import map_run
from services.traces.domain.otlp_runs import assemble
from tests.support.agent_runs import gen_ai_run, openinference_run, openllmetry_run
from tests.support.otel import T0, Recorder, otlp_json, protobuf

PROTOBUF, JSON = "application/x-protobuf", "application/json"
NOW = datetime(2025, 8, 10, 11, 30, tzinfo=UTC)


def refused(body: bytes, content_type: str) -> OtlpError:
    with pytest.raises(OtlpError) as raised:
        decode_export(body, content_type)
    return raised.value


def test_an_export_that_cannot_be_decoded_is_refused_saying_why():
    assert "not a protobuf ExportTraceServiceRequest" in refused(bytes(range(256)), PROTOBUF).message
    assert "not a protobuf ExportTraceServiceRequest" in refused(b"hello, world", PROTOBUF).message
    assert "not JSON" in refused(b'{"resourceSpans": [', JSON).message
    assert "must be a JSON object" in refused(b"[1, 2]", JSON).message
    assert "not an OTLP/JSON ExportTraceServiceRequest" in refused(b'{"resourceSpans": "many"}', JSON).message
    assert "not JSON" in refused(b"[" * 100_000, JSON).message
    unsupported = refused(b"{}", "text/plain; charset=utf-8")
    assert unsupported.kind == "unsupported" and "application/x-protobuf or application/json" in unsupported.message
    assert refused(bytes(range(256)), PROTOBUF).kind == "bad_data"


def test_an_empty_export_is_no_error():
    assert decode_export(b"", PROTOBUF).spans == [] and decode_export(b"{}", JSON).spans == []


def test_an_export_with_too_many_spans_is_refused_as_too_large():
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for index in range(MAX_SPANS_PER_EXPORT + 1):
        spans.add(trace_id=b"\x01" * 16, span_id=(index + 1).to_bytes(8, "big"), name="s",
                  start_time_unix_nano=T0, end_time_unix_nano=T0)
    error = refused(request.SerializeToString(), PROTOBUF)
    assert error.kind == "too_large" and f"at most {MAX_SPANS_PER_EXPORT} spans" in error.message


def test_spans_with_bad_ids_times_or_values_are_rejected_alone():
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    good = {"trace_id": b"\x01" * 16, "start_time_unix_nano": T0, "end_time_unix_nano": T0 + 5}
    spans.add(span_id=b"\x00\x00\x00\x00\x00\x00\x00\x01", name="good", **good)
    spans.add(**{**good, "trace_id": b"\x01" * 4}, span_id=b"\x02" * 8, name="short trace id")
    spans.add(**{**good, "end_time_unix_nano": T0 - 1}, span_id=b"\x03" * 8, name="ends before it starts")
    spans.add(span_id=b"\x04" * 8, parent_span_id=b"\x05" * 3, name="short parent id", **good)
    deep = AnyValue(string_value="leaf")
    for _ in range(40):
        deep = AnyValue(array_value={"values": [deep]})
    spans.add(span_id=b"\x06" * 8, name="too deep", attributes=[KeyValue(key="x", value=deep)], **good)
    decoded = decode_export(request.SerializeToString(), PROTOBUF)
    assert [span.name for span in decoded.spans] == ["good"]
    assert decoded.rejected == [
        "span 0202020202020202 'short trace id': traceId must be 16 bytes, not all zero",
        "span 0303030303030303 'ends before it starts': a span needs a start time and an end time not before it",
        "span 0404040404040404 'short parent id': parentSpanId must be 8 bytes or empty",
        "span 0606060606060606 'too deep': an attribute value nests deeper than 32 levels",
    ]


def test_otlp_json_with_base64_ids_as_protobufs_json_mapping_writes_them_is_read_too():
    recorder = Recorder()
    gen_ai_run(recorder)
    base64_ids = MessageToJson(encode_spans(recorder.finished())).encode()
    hex_ids = otlp_json(recorder.finished())
    assert decode_export(base64_ids, JSON).spans == decode_export(hex_ids, JSON).spans
    assert decode_export(hex_ids, JSON).spans == decode_export(protobuf(recorder.finished()), PROTOBUF).spans
    lowercase = json.loads(hex_ids)
    span = lowercase["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = span["traceId"].upper()
    assert decode_export(json.dumps(lowercase).encode(), JSON).spans[0].trace_id == span["traceId"].lower()


def test_attributes_of_the_wrong_type_are_left_out_and_noted():
    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent", "user.id": 42})
    recorder.span("chat", 1, 2, {"gen_ai.operation.name": "chat", "gen_ai.request.temperature": "hot",
                                 "gen_ai.request.model": ["gpt-4o"], "gen_ai.tool.definitions": "not json",
                                 "gen_ai.system_instructions": 7,
                                 "gen_ai.input.messages": json.dumps([
                                     {"role": "user", "parts": [{"type": "text", "content": "Hi"}, "stray", 3]},
                                     {"role": ["user"], "parts": []}, 5]),
                                 "gen_ai.output.messages": json.dumps({"role": "assistant"})}, root)
    root.end()
    [run] = assemble(decode_export(protobuf(recorder.finished()), PROTOBUF).spans, NOW, NOW).runs
    mapped = map_run(run)
    trace = mapped.trace
    assert [message.content for message in trace.input] == ["Hi"] and trace.output == ""
    assert trace.model.name == "unknown" and trace.model.parameters == {} and trace.customer_id is None
    notes = "\n".join(trace.metadata["otel"]["notes"])
    for expected in ("gen_ai.request.temperature has a value of the wrong type", "gen_ai.tool.definitions is not JSON",
                     "gen_ai.system_instructions is neither text nor a list of parts",
                     "a message without a known role was left out", "gen_ai.output.messages is not a list"):
        assert expected in notes, expected


def test_a_run_too_large_for_a_trace_is_refused_naming_what_is_too_large():
    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent"})
    recorder.span("chat", 1, 2, {"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "x" * 200_001}]}])}, root)
    root.end()
    [run] = assemble(decode_export(protobuf(recorder.finished()), PROTOBUF).spans, NOW, NOW).runs
    mapped = map_run(run)
    assert mapped.trace is None
    assert "input.0.content: String should have at most 200000 characters" in mapped.problem


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=4), max_leaves=12)
RUNS = {"gen_ai": gen_ai_run, "openllmetry": openllmetry_run, "openinference": openinference_run}
SPANS = {}
for dialect, build in RUNS.items():
    recorder = Recorder()
    build(recorder)
    SPANS[dialect] = decode_export(protobuf(recorder.finished()), PROTOBUF).spans


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(dialect=st.sampled_from(sorted(RUNS)), data=st.data())
def test_any_attribute_of_any_type_never_breaks_the_mapping(dialect, data):
    spans = SPANS[dialect]
    changed = []
    for span in spans:
        attributes = dict(span.attributes)
        for key in data.draw(st.lists(st.sampled_from(sorted(attributes)), max_size=4, unique=True), label="keys"):
            replacement = data.draw(JSONISH | st.text(max_size=30).map(json.dumps) | JSONISH.map(json.dumps))
            attributes[key] = replacement
        changed.append(dataclasses.replace(span, attributes=attributes))
    for run in assemble(changed, NOW, NOW).runs:
        mapped = map_run(run)
        assert (mapped.trace is None) != (mapped.problem is None)


EVALUATION_KEYS = ("gen_ai.evaluation.name", "gen_ai.evaluation.score.value", "gen_ai.evaluation.score.label",
                   "gen_ai.evaluation.explanation", "error.type")


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(st.dictionaries(st.sampled_from(EVALUATION_KEYS), JSONISH, max_size=5), max_size=4))
def test_evaluation_results_of_any_shape_never_break_the_mapping(events):
    root = next(span for span in SPANS["gen_ai"] if span.parent_span_id is None)
    judged = dataclasses.replace(root, events=tuple(
        SpanEvent("gen_ai.evaluation.result", T0 + index, attributes) for index, attributes in enumerate(events)))
    [run] = assemble([judged if span is root else span for span in SPANS["gen_ai"]], NOW, NOW).runs
    mapped = map_run(run)
    assert mapped.problem is None, mapped.problem
    def text(event: dict, key: str) -> bool:
        return isinstance(event.get(key), str) and bool(event[key].strip())

    named = [event for event in events if text(event, "gen_ai.evaluation.name") and not text(event, "error.type")]
    assert (mapped.trace.feedback is None) == (not named)


def test_attributes_the_sdk_dropped_are_noted_with_the_limit_to_raise():
    recorder = Recorder(limits=SpanLimits(max_span_attributes=8))
    messages = {f"gen_ai.prompt.{index}.{key}": value for index in range(5)
                for key, value in (("role", "user"), ("content", f"message {index}"))}
    recorder.span("openai.chat", 0, 1, {"llm.request.type": "chat", **messages})
    [run] = assemble(decode_export(protobuf(recorder.finished()), PROTOBUF).spans, NOW, NOW).runs
    notes = map_run(run).trace.metadata["otel"]["notes"]
    assert any("dropped 3 attributes (raise OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT)" in note for note in notes)
