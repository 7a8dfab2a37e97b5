"""Agents instrumented with OpenTelemetry send their spans to `POST /v1/traces` with the real
SDK's OTLP/HTTP exporter, and read their runs back as traces through the API."""

import asyncio
import gzip
import json
import zlib

import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode, use_span

from services.traces.domain.otlp import MAX_SPANS_PER_EXPORT
from tests.support.agent_runs import ANSWER, LONDON, PARIS, QUESTION, gen_ai_run, openinference_run, openllmetry_run
from tests.support.otel import Recorder, hex_span_id, hex_trace_id, otlp_json, protobuf
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

DIALECTS = {"gen_ai": gen_ai_run, "gen_ai-structured": lambda recorder: gen_ai_run(recorder, structured=True),
            "openllmetry": openllmetry_run, "openinference": openinference_run}


def exporter(api, compression: Compression = Compression.NoCompression) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=api.base_url + "/v1/traces", headers={"Authorization": f"Bearer {api.key}"},
                            compression=compression, timeout=10)


async def stored_trace(api, trace_id: str, timeout: float = 10) -> dict:
    async def found():
        response = await api.get(f"/api/v2/traces/{trace_id}")
        return response.data if response.status == 200 else None
    return await eventually(found, timeout, f"trace {trace_id}")


async def post(api, body: bytes, content_type: str, key: str | None = "default", path: str = "/v1/traces",
               **headers: str):
    """A raw export: the status, and the body decoded as a `google.rpc.Status` by its Content-Type."""
    headers = {"Content-Type": content_type, **headers}
    if key is not None:
        headers["Authorization"] = f"Bearer {api.key if key == 'default' else key}"
    async with api._session.post(api.base_url + path, data=body, headers=headers) as response:
        raw = await response.read()
        if response.status == 200:
            return response.status, raw, response.headers
        if response.content_type == "application/x-protobuf":
            status = status_pb2.Status.FromString(raw)
            return response.status, {"code": status.code, "message": status.message}, response.headers
        return response.status, json.loads(raw), response.headers


def assert_weather_trace(trace: dict) -> None:
    assert trace["input"][0] == {"role": "user", "content": QUESTION}
    assert trace["output"] == ANSWER and trace["customerId"] == "cust_42"
    assert [(step["name"], step["arguments"], step["status"]) for step in trace["steps"]] == [
        ("get_weather", PARIS, "ok"), ("get_weather", LONDON, "error")]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_sdk_exporter_sends_a_run_with_two_tool_calls_and_it_reads_back_as_a_trace(api, dialect):
    recorder = Recorder(processor=SimpleSpanProcessor(exporter(api)))
    root = await asyncio.to_thread(DIALECTS[dialect], recorder)
    trace = await stored_trace(api, f"otel-{hex_trace_id(root)}")
    assert_weather_trace(trace)
    assert trace["status"] == "ok" and trace["metadata"]["otel"]["service"] == "weather-service"


async def test_evaluation_results_recorded_on_the_run_read_back_as_its_feedback(api):
    recorder = Recorder(processor=SimpleSpanProcessor(exporter(api)))
    root = await asyncio.to_thread(gen_ai_run, recorder, evaluations=[
        {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9},
        {"gen_ai.evaluation.name": "correctness", "gen_ai.evaluation.score.value": 0.3,
         "gen_ai.evaluation.score.label": "incorrect",
         "gen_ai.evaluation.explanation": "London's weather was never found."}])
    trace = await stored_trace(api, f"otel-{hex_trace_id(root)}")
    assert trace["feedback"] == {"score": 0.3, "comment": "correctness 0.3 (incorrect): London's weather was never "
                                                          "found.\nrelevance 0.9"}
    assert [item["name"] for item in trace["metadata"]["otel"]["evaluations"]] == ["relevance", "correctness"]


async def test_an_endpoint_under_api_otlp_takes_the_same_exports(api, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", api.base_url + "/api/otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{api.key}")
    sending = OTLPSpanExporter(timeout=10)
    assert sending._endpoint == api.base_url + "/api/otlp/v1/traces"
    recorder = Recorder(processor=SimpleSpanProcessor(sending))
    root = await asyncio.to_thread(openllmetry_run, recorder)
    assert_weather_trace(await stored_trace(api, f"otel-{hex_trace_id(root)}"))
    status, body, _ = await post(api, b"spans", "application/x-protobuf", key=None, path="/api/otlp/v1/traces")
    assert status == 401 and body["code"] == code_pb2.UNAUTHENTICATED


async def test_a_gzipped_export_of_a_failed_run_is_stored_as_an_error_trace(api):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    spans = recorder.finished()
    failing = next(span for span in spans if span.parent is None)
    failing._status = Status(StatusCode.ERROR, "agent crashed")
    result = await asyncio.to_thread(exporter(api, Compression.Gzip).export, spans)
    assert result is SpanExportResult.SUCCESS
    trace = await stored_trace(api, f"otel-{hex_trace_id(root)}")
    assert trace["status"] == "error"


async def test_an_otlp_trace_is_announced_and_an_issue_linking_it_learns_its_customer(api):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    trace_id = f"otel-{hex_trace_id(root)}"
    issue = await api.create_issue(traceIds=[trace_id], agentId="agent_weather")
    assert await asyncio.to_thread(exporter(api).export, recorder.finished()) is SpanExportResult.SUCCESS
    detail = await api.issue_when(issue["id"], lambda found: found["metadata"]["affectedCustomers"] == 1,
                                  "traces.ingested for the OTLP trace")
    assert detail["metadata"]["firstSeenAt"] == "2025-08-10T11:22:00.000Z" and detail["agentName"] == "Weather Bot"


async def test_a_deflated_json_export_is_accepted(api):
    recorder = Recorder()
    root = openllmetry_run(recorder)
    status, body, _ = await post(api, zlib.compress(otlp_json(recorder.finished())), "application/json",
                                 **{"Content-Encoding": "deflate"})
    assert status == 200 and json.loads(body) == {}
    assert_weather_trace(await stored_trace(api, f"otel-{hex_trace_id(root)}"))


async def test_an_export_of_more_spans_than_the_limit_is_413_and_stores_nothing(api):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    request = encode_spans(recorder.finished())
    spans = request.resource_spans[0].scope_spans[0].spans
    for index in range(MAX_SPANS_PER_EXPORT):
        spans.add(trace_id=spans[0].trace_id, span_id=(index + 1).to_bytes(8, "big"), parent_span_id=spans[0].span_id,
                  name="step", start_time_unix_nano=spans[0].start_time_unix_nano,
                  end_time_unix_nano=spans[0].end_time_unix_nano)
    status, body, _ = await post(api, request.SerializeToString(), "application/x-protobuf")
    assert status == 413 and body["code"] == code_pb2.INVALID_ARGUMENT and str(MAX_SPANS_PER_EXPORT) in body["message"]
    assert (await api.get(f"/api/v2/traces/otel-{hex_trace_id(root)}")).status == 404
    assert (await api.get("/api/v2/traces")).body["pagination"]["total"] == 0


async def test_otlp_json_is_accepted_and_answered_in_json(api):
    recorder = Recorder()
    root = openinference_run(recorder)
    status, body, headers = await post(api, otlp_json(recorder.finished()), "application/json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {}
    assert_weather_trace(await stored_trace(api, f"otel-{hex_trace_id(root)}"))


async def test_spans_split_across_two_exports_are_assembled_into_one_trace(api):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    spans = recorder.finished()
    children = [span for span in spans if span.parent is not None]
    sending = exporter(api)
    assert await asyncio.to_thread(sending.export, children[:2]) is SpanExportResult.SUCCESS
    assert (await api.get(f"/api/v2/traces/otel-{hex_trace_id(root)}")).status == 404
    rest = [span for span in spans if span not in children[:2]]
    assert await asyncio.to_thread(sending.export, rest) is SpanExportResult.SUCCESS
    trace = await stored_trace(api, f"otel-{hex_trace_id(root)}")
    assert_weather_trace(trace)


async def test_a_trace_whose_root_never_comes_is_assembled_after_the_quiet_period(api):
    recorder = Recorder()
    request = recorder.start("POST /ask", 0, {})
    with use_span(request, end_on_exit=False):
        agent = gen_ai_run(recorder)
    status, _, _ = await post(api, protobuf(recorder.finished()), "application/x-protobuf")
    assert status == 200
    trace_id = f"otel-{hex_trace_id(agent)}-{hex_span_id(agent)}"
    assert (await api.get(f"/api/v2/traces/{trace_id}")).status == 404
    assert_weather_trace(await stored_trace(api, trace_id, timeout=15))


async def test_the_same_export_sent_twice_is_ingested_once(api, stack, mongo_client, workspace):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    sending = exporter(api)
    for _ in range(2):
        assert await asyncio.to_thread(sending.export, recorder.finished()) is SpanExportResult.SUCCESS
    trace_id = f"otel-{hex_trace_id(root)}"
    await stored_trace(api, trace_id)
    traces = mongo_client[stack.database]["traces"]
    assert await traces.count_documents({"workspace": workspace, "id": trace_id}) == 1
    await eventually(lambda: traces.find_one({"workspace": workspace, "id": trace_id, "announced": True}), 10,
                     "the trace announced")
    assert (await api.get("/api/v2/traces")).body["pagination"]["total"] == 1


async def test_an_export_without_a_key_is_401_with_a_status_body(api):
    recorder = Recorder()
    gen_ai_run(recorder)
    status, body, _ = await post(api, protobuf(recorder.finished()), "application/x-protobuf", key=None)
    assert status == 401 and body["code"] == code_pb2.UNAUTHENTICATED and body["message"]
    assert await asyncio.to_thread(exporter(api.__class__(api._session, api.base_url, "thk_wrong")).export,
                                   recorder.finished()) is SpanExportResult.FAILURE


async def test_another_content_type_is_415(api):
    status, body, headers = await post(api, b"spans", "text/plain")
    assert status == 415 and body["code"] == code_pb2.INVALID_ARGUMENT and "application/x-protobuf" in body["message"]
    assert headers["Content-Type"].startswith("application/json")


async def test_a_body_over_the_limit_is_413_and_stores_nothing(api):
    recorder = Recorder()
    root = recorder.span("chat", 0, 1, {"gen_ai.operation.name": "chat",
                                        "gen_ai.input.messages": "x" * (5 * 1024 * 1024)})
    status, body, _ = await post(api, protobuf(recorder.finished()), "application/x-protobuf")
    assert status == 413 and "limit" in body["message"]
    assert (await api.get(f"/api/v2/traces/otel-{hex_trace_id(root)}")).status == 404


@pytest.mark.parametrize(("body", "content_type", "encoding"), [
    (b"\x0a\xff\xff\xff", "application/x-protobuf", None),
    (b"{not json", "application/json", None),
    (b"not gzip at all", "application/x-protobuf", "gzip"),
])
async def test_a_malformed_export_is_400_with_a_status_body(api, body, content_type, encoding):
    headers = {"Content-Encoding": encoding} if encoding else {}
    status, answer, _ = await post(api, body, content_type, **headers)
    assert status == 400 and answer["code"] == code_pb2.INVALID_ARGUMENT and answer["message"]
    assert (await api.get("/api/v2/traces")).body["pagination"]["total"] == 0


async def test_spans_with_bad_ids_are_refused_alone_as_a_partial_success(api):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    document = json.loads(otlp_json(recorder.finished()))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
        {"traceId": "00" * 16, "spanId": "ab" * 8, "name": "broken", "startTimeUnixNano": "1", "endTimeUnixNano": "2"})
    status, body, _ = await post(api, json.dumps(document).encode(), "application/json")
    assert status == 200
    answer = json.loads(body)["partialSuccess"]
    assert answer["rejectedSpans"] == "1" and "traceId" in answer["errorMessage"]
    await stored_trace(api, f"otel-{hex_trace_id(root)}")


async def test_a_body_that_is_not_gzip_is_400_on_the_json_routes_too(api):
    response = await api.post("/api/v2/traces", data=b"not gzip", headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status == 400 and response.error["code"] == "VALIDATION_ERROR"
    response = await api.post("/api/v2/traces", data=gzip.compress(b'{"traces": []}'), headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status == 400 and "traces" in response.error["message"]


async def test_the_protobuf_answer_is_an_export_response(api):
    recorder = Recorder()
    gen_ai_run(recorder)
    status, body, headers = await post(api, protobuf(recorder.finished()), "application/x-protobuf")
    assert status == 200 and headers["Content-Type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
