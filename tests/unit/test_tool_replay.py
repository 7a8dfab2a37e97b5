"""Replaying a tool-using run: calls matched to the recorded steps, divergence, the step limit,
tool_update and toolStubs, and how diverged traces are counted."""

import json
from datetime import UTC, datetime

import pytest

from deploy.local.demo_model import _tool_agent
from services.fixes.domain.model import checked_changes
from services.shadow_runner import handlers
from services.shadow_runner.domain.model import Tally
from services.shadow_runner.domain.replay import AskedCall, ChatRequest, ReplayError, apply_tool_update, replay_request
from services.shadow_runner.domain.significance import Sample, statistics
from services.shadow_runner.domain.tool_replay import RecordedSteps, ToolReplay, canonical
from services.shadow_runner.ports import Completion
from shared.contracts.agent_steps import ToolStep
from shared.contracts.errors import InvalidRequest
from shared.contracts.fixes import ToolStub, ToolUpdate
from shared.contracts.shadow_tests import CreateShadowTest, ExecuteShadow
from shared.contracts.traces import Trace
from tests.unit.runner_fakes import ScriptedModel
from tests.unit.test_runner_handlers import a_fix, build, context, detail, replay

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
RIGHT = "Returns are accepted within 30 days of purchase."
WRONG = "Our policy allows returns within 60 days."
POLICY = {"type": "function", "function": {"name": "get_refund_policy", "description": "The refund policy.",
                                           "parameters": {"type": "object", "properties": {"topic": {}}}}}
FAQ = {"type": "function", "function": {"name": "search_faq", "description": "Search the help-center FAQ.",
                                        "parameters": {"type": "object", "properties": {"query": {}}}}}


def step(name: str, arguments, result="r", call_id=None, **fields) -> ToolStep:
    return ToolStep.model_validate({"name": name, "arguments": arguments, "result": result, "callId": call_id,
                                    **fields}, by_name=False)


def asked(name: str, arguments: str, call_id: str = "c") -> AskedCall:
    return AskedCall(call_id, name, arguments)


# Matching


def test_exact_arguments_match_first_then_canonical_json():
    recorded = RecordedSteps([step("lookup", {"b": 1, "a": [1, 2]}, "canonical", "s1"),
                              step("lookup", None, "exact", "s2", rawArguments='{"a":[1,2],"b":1}')],
                             written={"s1": '{"b": 1, "a": [1, 2]}'})
    assert recorded.answer(asked("lookup", '{"a": [1, 2], "b": 1}')) is not None
    recorded = RecordedSteps([step("lookup", {"b": 1, "a": [1, 2]}, "first", "s1"),
                              step("lookup", {"a": [1, 2], "b": 1}, "second", "s2")],
                             written={"s1": '{"b": 1, "a": [1, 2]}', "s2": '{"a":[1,2],"b":1}'})
    exact = recorded.answer(asked("lookup", '{"a":[1,2],"b":1}'))
    assert (exact.source, exact.result, exact.recorded_call_id) == ("recorded", "second", "s2")
    by_json = recorded.answer(asked("lookup", '{ "a" : [1,2],\n "b": 1 }'))
    assert (by_json.source, by_json.result) == ("recorded", "first")
    assert canonical('{"b": 1, "a": {"d": 2, "c": 3}}') == '{"a":{"c":3,"d":2},"b":1}'
    assert canonical("not json") is None


def test_other_arguments_or_another_tool_match_nothing():
    recorded = RecordedSteps([step("lookup", {"id": "A-17"})])
    assert recorded.answer(asked("lookup", '{"id": "A-18"}')) is None
    assert recorded.answer(asked("lookdown", '{"id": "A-17"}')) is None
    assert recorded.answer(asked("lookup", '{"id": "A-17", "extra": true}')) is None


def test_a_step_is_used_once_and_a_repeated_identical_call_reuses_its_result():
    recorded = RecordedSteps([step("poll", {}, "pending", "s1"), step("poll", {}, "done", "s2")])
    answers = [recorded.answer(asked("poll", "{}")) for _ in range(3)]
    assert [(a.source, a.result, a.recorded_call_id) for a in answers] == [
        ("recorded", "pending", "s1"), ("recorded", "done", "s2"), ("repeated", "done", "s2")]
    assert RecordedSteps([step("poll", {}, "pending")]).answer(asked("other", "{}")) is None


def test_parallel_calls_are_matched_each_on_its_own_whatever_their_order():
    recorded = RecordedSteps([step("a", {"n": 1}, "A1", "s1", turn=0), step("b", {"n": 2}, "B2", "s2", turn=0),
                              step("a", {"n": 3}, "A3", "s3", turn=1)])
    answers = [recorded.answer(asked(name, arguments)) for name, arguments in
               [("a", '{"n": 3}'), ("b", '{"n": 2}'), ("a", '{"n": 1}')]]
    assert [a.result for a in answers] == ["A3", "B2", "A1"]


def test_text_arguments_that_are_not_json_match_only_exactly():
    recorded = RecordedSteps([step("shell", None, "ok", rawArguments="ls  -la")])
    assert recorded.answer(asked("shell", "ls -la")) is None
    assert recorded.answer(asked("shell", "ls  -la")).result == "ok"


def test_stubs_answer_calls_nothing_recorded_answers_and_recorded_errors_stay_errors():
    recorded = RecordedSteps([step("pay", {}, None, error="card declined")],
                             {"escalate": ToolStub(result={"ticket": "T-1"}), "page": ToolStub(error="nobody on call")})
    failed = recorded.answer(asked("pay", "{}"))
    assert (failed.source, failed.error, failed.content) == ("recorded", "card declined", "card declined")
    stub = recorded.answer(asked("escalate", '{"why": "anything"}'))
    assert (stub.source, stub.result, stub.content) == ("stub", {"ticket": "T-1"}, '{"ticket": "T-1"}')
    assert recorded.answer(asked("page", "{}")).error == "nobody on call"


# The loop


def request() -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "q"}], tools=[POLICY])


def test_the_loop_answers_calls_until_the_model_answers():
    run = ToolReplay(request(), RecordedSteps([step("get_refund_policy", {"topic": "returns"}, RIGHT, "s1")]), 10)
    first = run.next_request()
    run.took("", [asked("get_refund_policy", '{"topic": "returns"}', "x1")])
    second = run.next_request()
    assert first.messages == [{"role": "user", "content": "q"}]
    assert second.messages[1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x1", "type": "function",
             "function": {"name": "get_refund_policy", "arguments": '{"topic": "returns"}'}}]},
        {"role": "tool", "tool_call_id": "x1", "content": RIGHT}]
    run.took(RIGHT, [])
    assert run.next_request() is None
    shown = run.transcript().to_wire()
    assert shown["outcome"] == "answered" and shown["modelCalls"] == 2 and shown["finalAnswer"] == RIGHT
    assert shown["steps"] == [{"turn": 0, "callId": "x1", "name": "get_refund_policy",
                               "arguments": '{"topic": "returns"}', "source": "recorded", "recordedCallId": "s1",
                               "result": RIGHT, "status": "ok", "error": None}]


def test_a_call_nothing_answers_ends_the_loop_diverged_naming_it():
    run = ToolReplay(request(), RecordedSteps([step("a", {}, "A")]), 10)
    run.next_request()
    run.took("", [asked("a", "{}", "x1"), asked("b", '{"n": 1}', "x2"), asked("a", "{}", "x3")])
    assert run.next_request() is None and run.outcome == "diverged"
    assert run.transcript().diverged_at.to_wire() == {"name": "b", "arguments": '{"n": 1}'}
    assert [s.call_id for s in run.steps] == ["x1"]
    assert "called b({\"n\": 1}), which the original run never made" in run.divergence()


def test_the_loop_stops_at_the_step_limit():
    run = ToolReplay(request(), RecordedSteps([step("poll", {}, "pending")]), 3)
    while run.next_request() is not None:
        run.took("", [asked("poll", "{}")])
    assert run.outcome == "step_limit" and run.model_calls == 3
    assert [s.source for s in run.steps] == ["recorded", "repeated", "repeated"]


# tool_update


def test_a_tool_update_changes_adds_and_removes_tools_and_names_what_a_trace_lacks():
    update = ToolUpdate.model_validate({
        "update": [{"name": "search_faq", "description": "Do not use."}],
        "add": [{"name": "escalate", "description": "Hand over."}], "remove": ["get_refund_policy"]}, by_name=False)
    tools = apply_tool_update([POLICY, FAQ], update)
    assert [t["function"]["name"] for t in tools] == ["search_faq", "escalate"]
    assert tools[0]["function"] == {**FAQ["function"], "description": "Do not use."}
    assert FAQ["function"]["description"] == "Search the help-center FAQ."
    with pytest.raises(ReplayError, match="changes tool 'search_faq', which this trace does not offer"):
        apply_tool_update([POLICY], update)
    with pytest.raises(ReplayError, match="adds tool 'get_refund_policy', which this trace offers already"):
        apply_tool_update([POLICY], ToolUpdate.model_validate({"add": [POLICY]}))


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({}, "changes", "give at least one tool to update, add or remove"),
    ({"update": [{"name": "a"}]}, "changes.update.0", "give a new description or parameters for tool a"),
    ({"remove": ["a"], "update": [{"name": "a", "description": "d"}]}, "changes", "repeated: a"),
    ({"remove": ["a"], "toolStubs": {"b": {"result": 1, "error": "e"}}}, "changes.toolStubs.b",
     "give exactly one of result or error"),
    ({"add": [{"type": "function", "function": {"description": "no name"}}]}, "changes.add.0.function.name",
     "is required"),
])
def test_the_fixes_service_refuses_a_bad_tool_update_naming_the_field(changes, field, message):
    with pytest.raises(InvalidRequest) as refused:
        checked_changes("tool_update", changes)
    details = [(d.field, d.message) for d in refused.value.details]
    assert any(f == field and message in m for f, m in details), details


def test_every_fix_type_may_carry_tool_stubs_in_canonical_form():
    assert checked_changes("prompt_update", {"systemPrompt": "p", "toolStubs": {"escalate": {"result": "T-1"}}}) == {
        "systemPrompt": "p", "toolStubs": {"escalate": {"result": "T-1"}}}
    with pytest.raises(InvalidRequest, match="give at least one parameter"):
        checked_changes("config_change", {"toolStubs": {"escalate": {"result": "T-1"}}})


# Through the handlers, against the scripted tool-using agent of the demo model


def tool_agent(request: ChatRequest) -> Completion:
    message = _tool_agent(request.messages, request.tools)
    calls = [AskedCall(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in
             message.get("tool_calls") or ()]
    return Completion(message["content"] or "", 1, calls)


def a_tool_trace(trace_id: str, tools=(POLICY, FAQ), steps=None) -> Trace:
    question = f"Can I return my headphones after 45 days? ({trace_id})"
    steps = steps if steps is not None else [
        {"name": "get_refund_policy", "arguments": {"topic": "returns"}, "result": RIGHT, "turn": 0},
        {"name": "search_faq", "arguments": {"query": question}, "result": WRONG, "turn": 1}]
    return Trace.model_validate({
        "id": trace_id, "agentId": "agent_a", "model": {"name": "m"}, "systemPrompt": "You are a support agent.",
        "input": [{"role": "user", "content": question}], "output": WRONG, "expectedOutput": RIGHT,
        "tools": list(tools), "steps": steps, "timestamp": NOW, "ingestedAt": NOW}, by_name=False)


DEPRECATE_FAQ = {"update": [{"name": "search_faq", "description": "Archived FAQ. Do not use."}]}


def test_the_replay_leaves_out_the_recorded_run_and_offers_the_tools():
    trace = a_tool_trace("tr_1")
    sent = replay_request(trace, "tool_update", DEPRECATE_FAQ, None)
    assert len(trace.input) == 5
    assert [m["role"] for m in sent.messages] == ["system", "user"]
    assert [t["function"]["description"] for t in sent.tools] == ["The refund policy.", "Archived FAQ. Do not use."]
    untooled = a_tool_trace("tr_2", tools=())
    assert replay_request(untooled, "prompt_update", {"systemPrompt": "p"}, None).tools == [
        {"type": "function", "function": {"name": "get_refund_policy"}},
        {"type": "function", "function": {"name": "search_faq"}}]


async def execute(fix, trace: Trace):
    deps = build(replay=ScriptedModel(tool_agent), traces=[trace], fix=fix)
    return await handlers.execute_shadow(ExecuteShadow(fix_id="fix_1", trace_id=trace.id), context(), deps)


async def test_a_tool_update_that_makes_the_agent_skip_the_wrong_tool_improves():
    result = await execute(a_fix(fix_type="tool_update", changes=DEPRECATE_FAQ), a_tool_trace("tr_1"))
    assert result.verdict == "improved" and result.fixed_output == RIGHT
    replayed = result.replay.to_wire()
    assert replayed["outcome"] == "answered" and replayed["modelCalls"] == 2 and replayed["finalAnswer"] == RIGHT
    assert [(s["name"], s["arguments"], s["result"], s["source"]) for s in replayed["steps"]] == [
        ("get_refund_policy", '{"topic": "returns"}', RIGHT, "recorded")]


async def test_a_fix_changing_nothing_replays_the_recorded_run():
    result = await execute(a_fix(changes={"systemPrompt": "You are a support agent."}), a_tool_trace("tr_1"))
    assert result.verdict == "unchanged" and result.fixed_output == WRONG
    assert [s.recorded_call_id for s in result.replay.steps] == ["call_1", "call_2"]


async def test_a_new_tool_the_run_never_called_diverges_unless_stubbed():
    add = {"add": [{"name": "escalate_to_human", "description": "Hand over to a person."}]}
    result = await execute(a_fix(fix_type="tool_update", changes=add), a_tool_trace("tr_1"))
    assert result.verdict == "diverged" and result.fixed_output is None and result.fixed_score is None
    assert result.replay.diverged_at.to_wire() == {"name": "escalate_to_human", "arguments": "{}"}
    assert "called escalate_to_human({})" in result.explanation and len(result.replay.steps) == 2
    stubbed = {**add, "toolStubs": {"escalate_to_human": {"result": {"answer": RIGHT}}}}
    result = await execute(a_fix(fix_type="tool_update", changes=stubbed), a_tool_trace("tr_1"))
    assert result.verdict == "improved" and result.replay.steps[-1].source == "stub"


async def test_parallel_calls_are_answered_in_the_order_asked():
    parallel = {"systemPrompt": "You are a support agent. Call tools in parallel."}
    result = await execute(a_fix(changes=parallel), a_tool_trace("tr_1"))
    steps = result.replay.steps
    assert [(s.turn, s.name, s.recorded_call_id) for s in steps] == [
        (0, "get_refund_policy", "call_1"), (0, "search_faq", "call_2")]
    assert result.replay.model_calls == 2


async def test_a_replay_still_calling_tools_at_the_step_limit_is_errored_saying_so():
    poll = {"type": "function", "function": {"name": "check_status", "description": "Call again until done."}}
    trace = a_tool_trace("tr_1", tools=(poll,), steps=[{"name": "check_status", "arguments": {}, "result": "pending"}])
    result = await execute(a_fix(changes={"systemPrompt": "p"}), trace)
    assert result.verdict == "errored" and "Step limit" in result.explanation
    assert result.replay.outcome == "step_limit" and result.replay.model_calls == 10
    assert [s.source for s in result.replay.steps] == ["recorded"] + ["repeated"] * 9


async def test_a_tool_update_a_trace_cannot_take_is_that_traces_error():
    fix = a_fix(fix_type="tool_update", changes={"remove": ["lookup_order"]})
    result = await execute(fix, a_tool_trace("tr_1"))
    assert result.verdict == "errored" and "lookup_order" in result.explanation and result.replay is None


async def test_diverged_traces_are_counted_apart_and_the_recommendation_says_how_many():
    traces = [a_tool_trace(f"tr_{n}") for n in range(3)]
    add = {"add": [{"name": "escalate_to_human", "description": "Hand over."}]}
    deps = build(replay=ScriptedModel(tool_agent), traces=traces, fix=a_fix(fix_type="tool_update", changes=add))
    created = await handlers.create_shadow_test(
        CreateShadowTest(fix_id="fix_1", trace_ids=[t.id for t in traces], config={"comparison_mode": "automated"}),
        context(), deps)
    for trace in traces:
        await replay(deps, created.test.id, trace.id)
    test = await detail(deps, created.test.id)
    results = test.results
    assert (results.diverged, results.improved, results.regressed, results.improvement_rate) == (3, 0, 0, None)
    assert results.recommendation == "inconclusive"
    assert "3 of 3 diverged" in results.recommendation_reason
    assert all(r.verdict == "diverged" for r in test.trace_results)


def test_a_tally_stored_before_diverged_existed_reads_as_none_diverged():
    assert Tally((1, 2, 3, 4)).results().diverged == 0
    sample = Sample(improved=2, diverged=1)
    assert sample.replayed == 3 and "1 of 3 diverged" in statistics(sample).recommendation_reason
    assert json.loads(Tally.counting(["diverged"]).results().model_dump_json())["diverged"] == 1


async def test_a_guardrail_applies_to_the_final_answer_after_the_tool_calls():
    rule = {"rule": "block_pattern", "pattern": "60 days", "fallback": RIGHT}
    result = await execute(a_fix(fix_type="guardrail", changes=rule), a_tool_trace("tr_1"))
    assert result.replay.final_answer == WRONG and len(result.replay.steps) == 2
    assert result.fixed_output == RIGHT and result.verdict == "improved"
