"""OTLP exports through the traces service's handlers, over in-memory stores: spans recorded by
the real SDK are kept until their run is complete, then stored as a trace by the path
`POST /api/v2/traces` takes, once however often they are sent."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.trace import use_span

from services.traces import bootstrap, handlers
from shared.contracts.errors import InvalidRequest, PayloadTooLarge
from shared.contracts.traces import GetTrace, IngestOtlpExport
from shared.messaging.commands import CommandContext
from tests.support.agent_runs import ANSWER, LONDON, PARIS, QUESTION, gen_ai_run, openinference_run
from tests.support.otel import Recorder, hex_span_id, hex_trace_id, otlp_json, protobuf
from tests.unit.trace_fakes import CountingAnnouncer, FakeSpanBuffer, FakeTraceStore

QUIET = timedelta(seconds=30)


class Clock:
    def __init__(self):
        self.now = datetime(2025, 8, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def deps(clock):
    return bootstrap.build(FakeTraceStore(), CountingAnnouncer(), clock=clock, spans=FakeSpanBuffer(),
                           quiet_period=QUIET)


def export(spans, encode=protobuf) -> IngestOtlpExport:
    content_type = "application/json" if encode is otlp_json else "application/x-protobuf"
    return IngestOtlpExport.of(content_type, encode(spans))


def context() -> CommandContext:
    return CommandContext(uuid.uuid4().hex, "ws", "key_1", "corr-" + uuid.uuid4().hex[:6])


async def stored(deps, trace_id: str) -> dict:
    return (await handlers.get_trace(GetTrace(trace_id=trace_id), context(), deps)).to_wire()


@pytest.mark.parametrize("encode", [protobuf, otlp_json])
async def test_a_whole_run_in_one_export_is_stored_at_once_as_one_trace_with_its_tool_calls(deps, encode):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    answer = await handlers.ingest_otlp_export(export(recorder.finished(), encode), context(), deps)
    trace_id = f"otel-{hex_trace_id(root)}"
    assert (answer.traces, answer.rejected_spans, answer.error_message) == ([trace_id], 0, "")
    trace = await stored(deps, trace_id)
    assert trace["input"][0] == {"role": "user", "content": QUESTION} and trace["output"] == ANSWER
    assert [(step["arguments"], step["status"]) for step in trace["steps"]] == [(PARIS, "ok"), (LONDON, "error")]
    assert (trace["status"], trace["agentId"], trace["customerId"]) == ("ok", "agent_weather", "cust_42")
    assert deps.announce.calls == 1 and deps.spans.spans == {}


async def test_the_same_export_again_stores_and_announces_nothing_more(deps):
    recorder = Recorder()
    gen_ai_run(recorder)
    first = await handlers.ingest_otlp_export(export(recorder.finished()), context(), deps)
    again = await handlers.ingest_otlp_export(export(recorder.finished()), context(), deps)
    assert again.traces == [] and again.rejected_spans == 0
    assert deps.traces.stored() == first.traces and deps.announce.calls == 1


async def test_spans_in_several_exports_and_any_order_wait_for_the_root(deps):
    recorder = Recorder()
    root = openinference_run(recorder)
    spans = recorder.finished()
    children = [span for span in spans if span.parent is not None]
    for part in (children[2:], children[:2]):
        assert (await handlers.ingest_otlp_export(export(part), context(), deps)).traces == []
    roots = [span for span in spans if span.parent is None]
    last = await handlers.ingest_otlp_export(export(roots), context(), deps)
    assert last.traces == [f"otel-{hex_trace_id(root)}"]
    trace = await stored(deps, last.traces[0])
    assert trace["output"] == ANSWER and [step["arguments"] for step in trace["steps"]] == [PARIS, LONDON]


async def test_a_run_whose_parent_never_comes_is_assembled_by_the_sweep_after_the_quiet_period(deps, clock):
    recorder = Recorder()
    request = recorder.start("POST /ask", 0, {})
    with use_span(request, end_on_exit=False):
        agent = gen_ai_run(recorder)
    answer = await handlers.ingest_otlp_export(export(recorder.finished()), context(), deps)
    assert answer.traces == [] and deps.traces.stored() == []
    clock.now += QUIET - timedelta(seconds=1)
    assert await handlers.assemble_quiet_traces(deps) == 0
    clock.now += timedelta(seconds=2)
    assert await handlers.assemble_quiet_traces(deps) == 1
    assert deps.traces.stored() == [f"otel-{hex_trace_id(agent)}-{hex_span_id(agent)}"]
    assert await handlers.assemble_quiet_traces(deps) == 0
    late = await handlers.ingest_otlp_export(export(recorder.finished()), context(), deps)
    assert late.traces == [] and deps.spans.spans == {} and deps.announce.calls == 1


async def test_spans_that_cannot_be_used_are_counted_as_a_partial_success_with_their_reasons(deps):
    recorder = Recorder()
    root = gen_ai_run(recorder)
    document = json.loads(otlp_json(recorder.finished()))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
        {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "backwards", "startTimeUnixNano": "5",
         "endTimeUnixNano": "1"})
    answer = await handlers.ingest_otlp_export(
        IngestOtlpExport.of("application/json", json.dumps(document).encode()), context(), deps)
    assert answer.rejected_spans == 1 and "end time" in answer.error_message
    assert answer.traces == [f"otel-{hex_trace_id(root)}"]


async def test_a_run_recorded_without_content_is_refused_and_says_how_to_record_it(deps):
    recorder = Recorder()
    agent = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent"})
    recorder.span("chat", 1, 2, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}, agent)
    agent.end()
    answer = await handlers.ingest_otlp_export(export(recorder.finished()), context(), deps)
    assert answer.rejected_spans == 2 and "CAPTURE_MESSAGE_CONTENT" in answer.error_message
    assert deps.traces.stored() == [] and deps.announce.calls == 0


async def test_an_export_that_does_not_decode_or_holds_too_many_spans_is_refused_whole(deps, monkeypatch):
    with pytest.raises(InvalidRequest):
        await handlers.ingest_otlp_export(IngestOtlpExport.of("application/x-protobuf", b"\x0a\xff\xff"), context(),
                                          deps)
    monkeypatch.setattr("services.traces.domain.otlp.MAX_SPANS_PER_EXPORT", 3)
    recorder = Recorder()
    gen_ai_run(recorder)
    with pytest.raises(PayloadTooLarge):
        await handlers.ingest_otlp_export(export(recorder.finished()), context(), deps)
    assert deps.spans.spans == {} and deps.traces.stored() == []
