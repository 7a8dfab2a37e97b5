"""A trace's tools and steps: either the conversation or the steps is enough, and they agree."""

import json

import pytest
from pydantic import ValidationError

from shared.contracts.errors import invalid_request
from shared.contracts.traces import IngestTraces, Trace, TraceInput

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather now in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def call(call_id: str, name: str, arguments) -> dict:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def trace(**fields) -> dict:
    return {"agentId": "agent_weather", "model": {"name": "gpt-4o-mini"}, "output": "12°C in Paris, 8°C in London.",
            "input": [{"role": "user", "content": "Weather in Paris and London?"}], **fields}


def validated(body: dict) -> TraceInput:
    return TraceInput.model_validate(body, by_name=False)


def refusal(body: dict) -> str:
    with pytest.raises(ValidationError) as raised:
        IngestTraces.model_validate({"traces": [body]}, by_name=False)
    return invalid_request(raised.value).message


CONVERSATION = [
    {"role": "system", "content": "You answer with the weather tool."},
    {"role": "user", "content": "Was it sunny in Rome?"},
    {"role": "assistant", "content": None, "tool_calls": [call("call_old", "get_weather", {"city": "Rome"})]},
    {"role": "tool", "tool_call_id": "call_old", "content": "sunny"},
    {"role": "assistant", "content": "Yes, sunny."},
    {"role": "user", "content": "Weather in Paris and London?"},
    {"role": "assistant", "content": None, "tool_calls": [call("call_p", "get_weather", {"city": "Paris"}),
                                                          call("call_l", "get_weather", {"city": "London"})]},
    {"role": "tool", "tool_call_id": "call_l", "content": '{"celsius": 8}'},
    {"role": "tool", "tool_call_id": "call_p", "content": '{"celsius": 12}'},
    {"role": "assistant", "content": None, "tool_calls": [call("call_w", "get_warnings", "not json")]},
    {"role": "tool", "tool_call_id": "call_w", "content": "none"},
]


def test_the_steps_are_read_from_the_runs_tool_calls_and_the_messages_answering_them():
    steps = validated(trace(input=CONVERSATION, tools=[WEATHER_TOOL])).to_wire()["steps"]
    assert [(s["callId"], s["name"], s["arguments"], s["rawArguments"], s["result"], s["turn"]) for s in steps] == [
        ("call_p", "get_weather", {"city": "Paris"}, None, '{"celsius": 12}', 0),
        ("call_l", "get_weather", {"city": "London"}, None, '{"celsius": 8}', 0),
        ("call_w", "get_warnings", None, "not json", "none", 1),
    ]
    assert all(s["status"] == "ok" and s["error"] is None for s in steps)


def test_steps_alone_are_written_into_the_conversation_one_assistant_message_per_turn():
    steps = [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "result": {"celsius": 12}, "turn": 4,
         "startedAt": "2025-08-10T11:22:01Z", "endedAt": "2025-08-10T11:22:02Z"},
        {"callId": "call_l", "name": "get_weather", "arguments": {"city": "London"}, "result": "8°C", "turn": 4},
        {"name": "get_warnings", "rawArguments": "London, today", "error": "warnings service down"},
    ]
    stored = validated(trace(steps=steps, tools=[WEATHER_TOOL])).to_wire()
    assert stored["input"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [call("call_1", "get_weather", {"city": "Paris"}),
                                                              call("call_l", "get_weather", {"city": "London"})]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 12}'},
        {"role": "tool", "tool_call_id": "call_l", "content": "8°C"},
        {"role": "assistant", "content": None, "tool_calls": [call("call_3", "get_warnings", "London, today")]},
        {"role": "tool", "tool_call_id": "call_3", "content": "warnings service down"},
    ]
    assert [(s["callId"], s["turn"], s["status"]) for s in stored["steps"]] == [
        ("call_1", 0, "ok"), ("call_l", 0, "ok"), ("call_3", 1, "error")]
    first = stored["steps"][0]
    assert first["result"] == {"celsius": 12} and first["endedAt"] == "2025-08-10T11:22:02.000Z"


def test_steps_given_with_the_conversation_must_agree_and_take_what_they_lack_from_it():
    steps = [{"name": "get_weather", "arguments": {"city": "Paris"}, "startedAt": "2025-08-10T11:22:01Z"},
             {"name": "get_weather", "arguments": {"city": "London"}, "result": {"celsius": 8}},
             {"callId": "call_w", "name": "get_warnings", "rawArguments": "not json", "error": "timed out"}]
    merged = validated(trace(input=CONVERSATION, steps=steps)).to_wire()["steps"]
    assert [(s["callId"], s["result"], s["turn"], s["status"]) for s in merged] == [
        ("call_p", '{"celsius": 12}', 0, "ok"), ("call_l", {"celsius": 8}, 0, "ok"), ("call_w", None, 1, "error")]
    assert merged[0]["startedAt"] == "2025-08-10T11:22:01.000Z"

    def disagreeing(index: int, **change) -> str:
        changed = [dict(step) for step in steps]
        changed[index].update(change)
        return refusal(trace(input=CONVERSATION, steps=changed))

    assert "steps.0.name: get_forecast, but the conversation calls get_weather (call_p)" in disagreeing(
        0, name="get_forecast")
    assert "steps.1.arguments differ from call call_l's" in disagreeing(1, arguments={"city": "Paris"})
    assert "steps.1.result differs from the tool message answering call_l" in disagreeing(1, result={"celsius": 9})
    assert "steps.2.callId: call_x, but the conversation's call 3 is call_w" in disagreeing(2, callId="call_x")
    assert "2 steps, but the conversation's run has 3 tool calls" in refusal(
        trace(input=CONVERSATION, steps=steps[:2]))


def test_a_message_breaking_its_roles_rules_is_refused_naming_it():
    asked = {"role": "assistant", "content": None, "tool_calls": [call("call_1", "get_weather", {"city": "Paris"})]}
    user = {"role": "user", "content": "Weather?"}
    cases = {
        "input.2: a tool message needs the tool_call_id it answers": [user, asked, {"role": "tool", "content": "12"}],
        "input.0: only assistant messages have tool_calls": [{**user, "tool_calls": asked["tool_calls"]}],
        "input.0: only tool messages have a tool_call_id": [{**user, "tool_call_id": "call_1"}],
    }
    for message, conversation in cases.items():
        assert message in refusal(trace(input=conversation)), message


def test_a_conversation_as_logged_is_kept_and_its_steps_read_from_first_calls_and_answers():
    asked = {"role": "assistant", "content": None, "tool_calls": [call("call_1", "get_weather", {"city": "Paris"})]}
    user = {"role": "user", "content": "Weather?"}
    cases = {
        "answers a call it does not show": ([user, {"role": "tool", "tool_call_id": "call_9", "content": "12"}], []),
        "uses a call id twice": ([user, asked, asked, {"role": "tool", "tool_call_id": "call_1", "content": "12"}],
                                 [("call_1", "12")]),
        "answers a call twice": ([user, asked, *({"role": "tool", "tool_call_id": "call_1", "content": text}
                                                 for text in ("12", "13"))], [("call_1", "12")]),
    }
    for case, (conversation, steps) in cases.items():
        kept = validated(trace(input=conversation))
        assert kept.to_wire()["input"] == conversation, case
        assert [(step.call_id, step.result) for step in kept.steps] == steps, case


def test_tool_calls_and_definitions_take_the_forms_people_log_them_in():
    flat = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}
    given = trace(tools=[flat], input=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "function": {"name": "get_weather",
                                                                             "arguments": {"city": "Paris"}}}]},
    ])
    stored = validated(given).to_wire()
    assert stored["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather", "parameters": {"type": "object"}, "strict": None}}]
    assert stored["input"][1]["tool_calls"] == [call("call_1", "get_weather", '{"city": "Paris"}')]
    assert stored["steps"][0]["arguments"] == {"city": "Paris"} and stored["steps"][0]["result"] is None
    assert [tool.function.name for tool in validated(trace(tools=[flat, WEATHER_TOOL])).tools] == ["get_weather"] * 2
    assert "unknown field" in refusal(trace(tools=[{**flat, "parameter": {}}]))


def test_free_form_values_in_steps_and_tools_are_bounded():
    deep: dict = {}
    for _ in range(40):
        deep = {"a": deep}
    cases = {
        "steps.0.arguments: JSON values nest at most 32 levels deep": {"steps": [{"name": "t", "arguments": deep}]},
        "steps.0.result: n: integers must fit in 64 bits": {"steps": [{"name": "t", "result": {"n": 2**64}}]},
        "steps.0.result: texts in JSON values hold at most 200000": {"steps": [{"name": "t", "result": "x" * 200_001}]},
        "tools.0.function.parameters: JSON values nest": {"tools": [{"name": "t", "parameters": deep}]},
        "tools: List should have at most 128 items": {"tools": [{"name": f"t{index}"} for index in range(129)]},
        "steps: List should have at most 500 items": {"steps": [{"name": "t"}] * 501},
        "input: the run makes 600 tool calls, more than the 500 a trace keeps": {"input": [
            {"role": "user", "content": "q"},
            *({"role": "assistant", "tool_calls": [call(f"c{index}", "t", {})]} for index in range(600))]},
        "steps.0.name: String should match pattern": {"steps": [{"name": "bad\nname"}]},
        "give arguments or rawArguments": {"steps": [{"name": "t", "arguments": {"a": 1}, "rawArguments": "a=1"}]},
        "error is only for a step whose status is error": {"steps": [{"name": "t", "status": "ok", "error": "boom"}]},
        "endedAt is before startedAt": {"steps": [{"name": "t", "startedAt": "2025-01-02T00:00:00Z",
                                                   "endedAt": "2025-01-01T00:00:00Z"}]},
    }
    for message, bad in cases.items():
        assert message in refusal(trace(**bad)), message
    assert validated(trace(steps=[{"name": "t", "arguments": {"n": 2**63 - 1}, "rawArguments": None}]))


def test_a_trace_without_tools_reads_exactly_as_before():
    wire = validated(trace(id="tr_plain")).to_wire()
    assert wire["input"] == [{"role": "user", "content": "Weather in Paris and London?"}]
    assert wire["tools"] == [] and wire["steps"] == []


def test_what_is_stored_reads_back_the_same_and_old_traces_read_leniently():
    ingested = validated(trace(id="tr_1", input=CONVERSATION, tools=[WEATHER_TOOL])).model_dump()
    stored = Trace.model_validate({**ingested, "ingested_at": "2025-08-10T11:23:00Z"})
    assert Trace.model_validate(stored.model_dump(by_alias=True)) == stored
    assert [step.call_id for step in stored.steps] == ["call_p", "call_l", "call_w"]

    old = {**trace(id="tr_old"), "ingestedAt": "2025-08-10T11:23:00Z", "input": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [call("call_1", "get_weather", {"city": "Paris"})]},
        {"role": "tool", "content": "12"}, {"role": "tool", "tool_call_id": "call_gone", "content": "?"}]}
    read = Trace.model_validate(old)
    assert [(step.call_id, step.result) for step in read.steps] == [("call_1", None)]
