"""Agent runs recorded by the real OpenTelemetry SDK, exported as OTLP, become traces.

Each dialect records the same run (tests/support/agent_runs.py); the SDK's own OTLP encoder
makes the protobuf body, and the OTLP/JSON body is the same message as the spec writes it.
"""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.trace import Status, StatusCode

from services.traces.domain.otlp import decode_export
from services.traces.domain.otlp_mapping import map_run
from services.traces.domain.otlp_runs import QUIET_PERIOD, assemble, by_trace
from tests.support.agent_runs import (
    ANSWER,
    LONDON,
    PARIS,
    PARIS_WEATHER,
    QUESTION,
    SYSTEM,
    WEATHER_PARAMETERS,
    WEATHER_TOOL,
    gen_ai_run,
    openinference_run,
    openllmetry_run,
)
from tests.support.otel import Recorder, at, hex_span_id, hex_trace_id, otlp_json, protobuf

NOW = datetime(2025, 8, 10, 11, 30, tzinfo=UTC)
ENCODINGS = {"protobuf": (protobuf, "application/x-protobuf"), "json": (otlp_json, "application/json")}
DIALECTS = {
    "gen_ai": (lambda recorder: gen_ai_run(recorder), ("agent_weather", "Weather Bot")),
    "gen_ai-structured": (lambda recorder: gen_ai_run(recorder, structured=True), ("agent_weather", "Weather Bot")),
    "openllmetry": (openllmetry_run, ("weather_bot", "weather_bot")),
    "openinference": (openinference_run, ("Weather Bot", "Weather Bot")),
}


def asked(call_id: str, arguments: dict) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(arguments)}}]}


def recorded(build) -> tuple[Recorder, object]:
    recorder = Recorder()
    return recorder, build(recorder)


def traces_of(*exports: tuple[bytes, str], now: datetime = NOW) -> list:
    spans = [span for body, content_type in exports for span in decode_export(body, content_type).spans]
    assemblies = [assemble(group, NOW, now) for group in by_trace(spans).values()]
    return [map_run(run) for assembly in assemblies for run in assembly.runs]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_run_with_two_tool_calls_maps_to_the_same_trace_in_every_dialect(dialect, encoding):
    build, (agent_id, agent_name) = DIALECTS[dialect]
    recorder, root = recorded(build)
    encode, content_type = ENCODINGS[encoding]
    [mapped] = traces_of((encode(recorder.finished()), content_type))
    assert mapped.problem is None, mapped.problem
    trace = mapped.trace.to_wire()
    assert trace["id"] == f"otel-{hex_trace_id(root)}" == mapped.trace_id
    assert (trace["agentId"], trace["agentName"], trace["customerId"]) == (agent_id, agent_name, "cust_42")
    assert trace["timestamp"] == "2025-08-10T11:22:00.000Z" and trace["status"] == "ok"
    assert trace["model"] == {"name": "gpt-4o-mini", "parameters": {"temperature": 0.2, "max_tokens": 300}}
    assert trace["systemPrompt"] == SYSTEM and trace["output"] == ANSWER
    assert trace["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": WEATHER_TOOL["description"], "parameters": WEATHER_PARAMETERS,
        "strict": None}}]
    assert trace["input"] == [
        {"role": "user", "content": QUESTION},
        asked("call_paris", PARIS),
        {"role": "tool", "tool_call_id": "call_paris", "content": json.dumps(PARIS_WEATHER)},
        asked("call_london", LONDON),
        {"role": "tool", "tool_call_id": "call_london", "content": "weather service timed out"},
    ]
    assert trace["steps"] == [
        {"callId": "call_paris", "name": "get_weather", "arguments": PARIS, "rawArguments": None,
         "result": json.dumps(PARIS_WEATHER), "status": "ok", "error": None, "turn": 0,
         "startedAt": "2025-08-10T11:22:00.950Z", "endedAt": "2025-08-10T11:22:01.200Z"},
        {"callId": "call_london", "name": "get_weather", "arguments": LONDON, "rawArguments": None,
         "result": "weather service timed out", "status": "error", "error": "TimeoutError: weather service timed out",
         "turn": 1, "startedAt": "2025-08-10T11:22:02.050Z", "endedAt": "2025-08-10T11:22:03.050Z"},
    ]
    otel = trace["metadata"]["otel"]
    assert (otel["traceId"], otel["spanId"]) == (hex_trace_id(root), hex_span_id(root))
    assert otel["service"] == "weather-service"
    assert otel["usage"]["inputTokens"] > 0 and "notes" not in otel


def test_a_failed_agent_span_makes_an_error_trace_and_the_session_stands_in_for_a_missing_user():
    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent", "session.id": "sess_9"})
    recorder.span("chat", 10, 20, {"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}])}, root)
    root.record_exception(RuntimeError("model quota exceeded"))
    root.set_status(Status(StatusCode.ERROR, "model quota exceeded"))
    root.end()
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    trace = mapped.trace
    assert trace.status == "error" and trace.output == "" and trace.customer_id == "sess_9"
    assert (trace.agent_id, trace.agent_name, trace.model.name) == ("weather-service", "weather-service", "unknown")


def test_spans_arriving_in_several_exports_and_any_order_are_assembled_once_the_run_is_whole():
    recorder, root = recorded(gen_ai_run)
    spans = recorder.finished()
    [whole] = traces_of((protobuf(spans), "application/x-protobuf"))
    children = [span for span in spans if span.parent is not None]
    random.Random(7).shuffle(children)
    roots = [span for span in spans if span.parent is None]
    exports = [protobuf(children[:3]), otlp_json(children[3:]), protobuf(roots)]
    collected = []
    for index, body in enumerate(exports):
        collected += decode_export(body, "application/json" if index == 1 else "application/x-protobuf").spans
        assembly = assemble(collected, NOW, NOW)
        if index < 2:
            assert not assembly.ready and assembly.reason == f"waiting for span {hex_span_id(root)}, a parent"
    assert assembly.ready and assembly.reason == "whole"
    [run] = assembly.runs
    assert map_run(run).trace == whole.trace
    sent_again = decode_export(protobuf(spans), "application/x-protobuf").spans
    [again] = assemble(collected + sent_again, NOW, NOW).runs
    assert again.trace_id == whole.trace_id and map_run(again).trace == whole.trace


def test_a_trace_whose_root_never_arrives_is_assembled_after_the_quiet_period():
    recorder, root = recorded(gen_ai_run)
    children = decode_export(protobuf([span for span in recorder.finished() if span.parent is not None]),
                             "application/x-protobuf").spans
    last_arrival = NOW - QUIET_PERIOD + timedelta(seconds=1)
    assert not assemble(children, last_arrival, NOW).ready
    assembly = assemble(children, NOW - QUIET_PERIOD, NOW)
    assert assembly.ready and assembly.reason == "quiet" and assembly.left_out == 0
    [run] = assembly.runs
    mapped = map_run(run)
    assert mapped.trace_id == f"otel-{hex_trace_id(root)}-{hex_span_id(root)}"
    assert mapped.trace.output == ANSWER
    assert [step.call_id for step in mapped.trace.steps] == ["call_paris", "call_london"]
    assert mapped.trace.agent_id == "weather-service" and mapped.trace.customer_id is None


def test_each_agent_span_is_a_run_of_its_own_and_sees_the_request_around_it():
    recorder = Recorder()
    request = recorder.start("POST /ask", 0, {"http.request.method": "POST", "enduser.id": "cust_5"})
    planner = recorder.start("invoke_agent Planner", 10, {"gen_ai.operation.name": "invoke_agent",
                                                          "gen_ai.agent.name": "Planner"}, request)

    def chat(parent, start, sent, reply):
        recorder.span("chat", start, start + 10, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": json.dumps(sent), "gen_ai.output.messages": json.dumps([reply])}, parent)

    user = {"role": "user", "parts": [{"type": "text", "content": "Plan my trip"}]}
    ask = {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "research", "arguments": {}}]}
    chat(planner, 20, [user], ask)
    tool = recorder.start("execute_tool research", 40, {"gen_ai.operation.name": "execute_tool",
                                                        "gen_ai.tool.name": "research", "gen_ai.tool.call.id": "c1"},
                          planner)
    researcher = recorder.start("invoke_agent Researcher", 41, {"gen_ai.operation.name": "invoke_agent",
                                                                "gen_ai.agent.name": "Researcher"}, tool)
    chat(researcher, 42, [{"role": "user", "parts": [{"type": "text", "content": "Research Rome"}]}],
         {"role": "assistant", "parts": [{"type": "text", "content": "Rome is warm."}]})
    researcher.end()
    tool.set_attribute("gen_ai.tool.call.result", "Rome is warm.")
    tool.end()
    chat(planner, 80, [user, ask, {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": "c1", "response": "Rome is warm."}]}],
         {"role": "assistant", "parts": [{"type": "text", "content": "Go to Rome."}]})
    planner.end()
    request.end()
    runs = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    mapped = {item.trace.agent_name: item for item in runs}
    assert mapped.keys() == {"Planner", "Researcher"}
    planned, researched = mapped["Planner"].trace, mapped["Researcher"].trace
    assert mapped["Planner"].trace_id == f"otel-{hex_trace_id(request)}-{hex_span_id(planner)}"
    assert planned.output == "Go to Rome." and researched.output == "Rome is warm."
    assert [(step.name, step.result) for step in planned.steps] == [("research", "Rome is warm.")]
    assert researched.steps == [] and planned.customer_id == researched.customer_id == "cust_5"


def test_a_run_recorded_without_message_content_is_refused_saying_how_to_record_it():
    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent"})
    recorder.span("chat gpt-4o", 1, 2, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}, root)
    recorder.span("execute_tool get_weather", 3, 4, {"gen_ai.operation.name": "execute_tool",
                                                     "gen_ai.tool.name": "get_weather"}, root)
    root.end()
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert mapped.trace is None and "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true" in mapped.problem


def test_tool_spans_are_the_steps_when_the_conversation_has_no_tool_calls():
    recorder = Recorder()
    root = recorder.start("agent", 0, {"openinference.span.kind": "AGENT", "agent.name": "Weather Bot",
                                       "input.value": QUESTION, "output.value": ANSWER})
    recorder.span("llm", 10, 20, {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o"}, root)
    for start, city in ((30, "Paris"), (31, "London")):
        recorder.span("get_weather", start, start + 5, {"openinference.span.kind": "TOOL", "tool.name": "get_weather",
                                                        "input.value": json.dumps({"city": city}),
                                                        "output.value": f"{city}: rain"}, root)
    recorder.span("llm", 40, 50, {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o"}, root)
    root.end()
    [mapped] = traces_of((otlp_json(recorder.finished()), "application/json"))
    trace = mapped.trace.to_wire()
    assert [(s["callId"], s["arguments"], s["result"], s["turn"]) for s in trace["steps"]] == [
        ("call_1", {"city": "Paris"}, "Paris: rain", 0), ("call_2", {"city": "London"}, "London: rain", 0)]
    assert trace["input"][0] == {"role": "user", "content": QUESTION} and trace["output"] == ANSWER
    assert [message["role"] for message in trace["input"]] == ["user", "assistant", "tool", "tool"]
    assert trace["model"]["name"] == "gpt-4o"


def test_a_lone_model_call_is_a_run_and_a_model_called_inside_a_tool_is_the_tools_business():
    recorder = Recorder()
    recorder.span("openai.chat", 0, 10, {
        "llm.request.type": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Hello", "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hi there"})
    [lone] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert [m.content for m in lone.trace.input] == ["Hello"] and lone.trace.output == "Hi there"

    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent"})

    def chat(parent, start, sent, reply, model="gpt-4o"):
        recorder.span("chat", start, start + 5, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.usage.input_tokens": 10,
            "gen_ai.input.messages": json.dumps(sent), "gen_ai.output.messages": json.dumps([reply])}, parent)

    user = {"role": "user", "parts": [{"type": "text", "content": "Summarise the report"}]}
    ask = {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "summarise", "arguments": {}}]}
    chat(root, 10, [user], ask)
    tool = recorder.start("execute_tool summarise", 20, {"gen_ai.operation.name": "execute_tool",
                                                         "gen_ai.tool.name": "summarise"}, root)
    chat(tool, 21, [{"role": "user", "parts": [{"type": "text", "content": "Summarise: ..."}]}],
         {"role": "assistant", "parts": [{"type": "text", "content": "Short."}]}, model="summariser-small")
    tool.end(at(30))
    chat(root, 40, [user, ask, {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1",
                                                          "response": "Short."}]}],
         {"role": "assistant", "parts": [{"type": "text", "content": "The report, in short: short."}]})
    root.end(at(50))
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert [m.content for m in mapped.trace.input] == ["Summarise the report", None, "Short."]
    assert mapped.trace.output == "The report, in short: short."
    assert [(step.name, step.result) for step in mapped.trace.steps] == [("summarise", "Short.")]
    assert mapped.trace.metadata["otel"]["usage"] == {"inputTokens": 20} and mapped.trace.model.name == "gpt-4o"


def test_message_shapes_seen_in_the_wild_are_read():
    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Gem"})
    user = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris and Rome?"}]}
    calls_without_ids = {"role": "model", "parts": [
        {"type": "text", "content": "Looking it up."},
        {"type": "tool_call", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "tool_call", "name": "get_weather", "arguments": {"city": "Rome"}}]}
    answers_without_ids = {"role": "user", "parts": [
        {"type": "tool_call_response", "result": {"celsius": 20}},
        {"type": "tool_call_response", "response": "sunny"}]}
    openai_format = {"role": "assistant", "content": [{"type": "text", "text": "Paris 20°C, Rome sunny."}]}
    recorder.span("chat gemini", 10, 20, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gemini-2.5",
                                          "gen_ai.input.messages": json.dumps([user, calls_without_ids,
                                                                               answers_without_ids]),
                                          "gen_ai.output.messages": json.dumps([openai_format])}, root)
    root.end(at(30))
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    trace = mapped.trace.to_wire()
    assert trace["input"][1:] == [
        {"role": "assistant", "content": "Looking it up.", "tool_calls": [
            asked("call_1", {"city": "Paris"})["tool_calls"][0], asked("call_2", {"city": "Rome"})["tool_calls"][0]]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 20}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"}]
    assert trace["output"] == "Paris 20°C, Rome sunny." and trace["agentName"] == "Gem"
    assert [(s["callId"], s["arguments"], s["result"], s["turn"]) for s in trace["steps"]] == [
        ("call_1", {"city": "Paris"}, '{"celsius": 20}', 0), ("call_2", {"city": "Rome"}, "sunny", 0)]


def test_openinference_content_items_and_anthropic_tool_schemas_are_read():
    recorder = Recorder()
    recorder.span("llm", 0, 10, {
        "openinference.span.kind": "LLM", "llm.model_name": "claude-sonnet",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "Hello",
        "llm.input_messages.0.message.contents.1.message_content.type": "image",
        "llm.input_messages.0.message.contents.2.message_content.type": "text",
        "llm.input_messages.0.message.contents.2.message_content.text": "there",
        "llm.tools.0.tool.json_schema": json.dumps({"name": "lookup", "description": "Look up",
                                                    "input_schema": {"type": "object"}}),
        "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "Hi"})
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert [m.content for m in mapped.trace.input] == ["Hello\nthere"] and mapped.trace.output == "Hi"
    assert mapped.trace.tools[0].function.parameters == {"type": "object"}


def test_a_tool_message_written_as_text_parts_answers_the_call_before_it():
    recorder = Recorder()
    sent = [{"role": "user", "parts": [{"type": "text", "content": "Time?"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "t1", "name": "clock", "arguments": {}}]},
            {"role": "tool", "parts": [{"type": "text", "content": "12:00"}]}]
    recorder.span("chat", 0, 5, {"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(sent),
                                 "gen_ai.output.messages": json.dumps(
                                     [{"role": "assistant", "parts": [{"type": "text", "content": "Noon."}]}])})
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert [(step.call_id, step.name, step.result) for step in mapped.trace.steps] == [("t1", "clock", "12:00")]


def evaluation(name: str, score: float | None = None, label: str | None = None, explanation: str | None = None,
               **more) -> dict:
    attributes = {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": score,
                  "gen_ai.evaluation.score.label": label, "gen_ai.evaluation.explanation": explanation, **more}
    return {key: value for key, value in attributes.items() if value is not None}


def test_evaluation_results_on_the_agent_span_give_the_trace_its_feedback_the_lowest_score_winning():
    recorder = Recorder()
    gen_ai_run(recorder, evaluations=[
        evaluation("relevance", 0.9, "relevant"),
        evaluation("correctness", 0.25, "incorrect", "London's weather was never found."),
        evaluation("tone", label="friendly")])
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert mapped.trace.feedback.score == 0.25
    assert mapped.trace.feedback.comment.splitlines() == [
        "correctness 0.25 (incorrect): London's weather was never found.", "relevance 0.9 (relevant)",
        "tone (friendly)"]
    listed = mapped.trace.metadata["otel"]["evaluations"]
    assert [(item["name"], item.get("score")) for item in listed] == [
        ("relevance", 0.9), ("correctness", 0.25), ("tone", None)]
    plain, _ = recorded(gen_ai_run)
    [plain] = traces_of((protobuf(plain.finished()), "application/x-protobuf"))
    assert plain.trace.feedback is None and "evaluations" not in plain.trace.metadata["otel"]


def test_an_evaluation_of_the_whole_run_outweighs_those_of_single_model_calls():
    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent"})

    def chat(parent, start, question, answer, model="gpt-4o"):
        span = recorder.start("chat", start, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "text", "content": answer}]}])}, parent)
        return span

    answering = chat(root, 10, "Capital of Peru?", "Lima.")
    answering.add_event("gen_ai.evaluation.result", evaluation("groundedness", 0.6))
    answering.add_event("gen_ai.evaluation.result", evaluation("toxicity", 0.1, **{"error.type": "timeout"}))
    answering.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.score.value": 0.0})
    answering.end(at(20))
    judged = recorder.start("evaluate", 30, evaluation("correctness", 0.4, "incorrect"), answering)
    chat(judged, 31, "Is 'Lima.' correct?", "Partly.", model="judge-model").end(at(35))
    judged.end(at(36))
    root.end(at(40))
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert mapped.trace.output == "Lima." and mapped.trace.model.name == "gpt-4o"
    assert mapped.trace.feedback.score == 0.4
    assert mapped.trace.feedback.comment == "correctness 0.4 (incorrect)\ngroundedness 0.6"
    notes = " ".join(mapped.trace.metadata["otel"]["notes"])
    assert "'toxicity' failed (timeout)" in notes and "without gen_ai.evaluation.name" in notes

    recorder = Recorder()
    root = recorder.start("invoke_agent", 0, {"gen_ai.operation.name": "invoke_agent"})
    chat(root, 10, "Capital of Peru?", "Lima.").end(at(20))
    root.add_event("gen_ai.evaluation.result", evaluation("helpfulness", 4.0, explanation="Short but right."))
    recorder.span("evaluate", 30, 31, evaluation("correctness", 0.4), root)
    root.end(at(40))
    [mapped] = traces_of((protobuf(recorder.finished()), "application/x-protobuf"))
    assert mapped.trace.feedback.score == 0.4, "both judge the run: the lowest"
