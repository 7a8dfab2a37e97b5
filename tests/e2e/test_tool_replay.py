"""Multi-step shadow replay through HTTP: tool-using runs ingested, fixed, replayed against the
demo model's scripted tool-using agent, each tool call answered from the recorded steps."""

import json

import pytest

from deploy.local.demo_model import PARALLEL, Fault
from tests.e2e.test_runner_pool import replayed_by, second_runner  # noqa: F401 (a fixture)
from tests.e2e.test_shadow_tests import finished, marker
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

RIGHT = "Returns are accepted within 30 days of purchase."
WRONG = "Our FAQ says returns are accepted within 60 days."
PROMPT = "You are a support agent. Answer from what your tools return."
POLICY = {"type": "function", "function": {
    "name": "get_refund_policy", "description": "The refund policy in force.",
    "parameters": {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}}}
FAQ = {"type": "function", "function": {
    "name": "search_faq", "description": "Search the help-center FAQ; its answers win over the policy.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
DEPRECATE_FAQ = {"update": [{"name": "search_faq", "description": "The 2023 FAQ archive. Do not use."}]}


def question(m: str, n: int) -> str:
    return f"Can I return my headphones after 45 days? [{m}] {n}"


def a_tool_trace(m: str, n: int, tools=(POLICY, FAQ), steps=None) -> dict:
    """A run that asked the policy, then the FAQ, and answered from the FAQ's outdated text (the
    policy step's arguments written with other spacing and key order than the agent writes them)."""
    return {
        "id": f"tr_{m}_{n}", "agentId": "agent_tools", "customerId": f"cust_{n}",
        "timestamp": "2025-08-14T10:00:00Z", "model": {"name": "gpt-test"}, "systemPrompt": PROMPT,
        "input": [{"role": "user", "content": question(m, n)}],
        "tools": list(tools),
        "steps": steps if steps is not None else [
            {"callId": f"call_{n}_p", "name": "get_refund_policy", "rawArguments": '{ "topic":"returns" }',
             "result": {"answer": RIGHT, "version": 2025}, "turn": 0},
            {"callId": f"call_{n}_f", "name": "search_faq", "arguments": {"query": question(m, n)},
             "result": WRONG, "turn": 1}],
        "output": WRONG, "expectedOutput": "No. Returns are accepted within 30 days of purchase.",
    }


async def shadow_tested(api, traces: list[dict], fix_type: str, changes: dict, timeout: float = 60) -> dict:
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201
    issue = await api.create_issue(title="Cites the outdated FAQ", agentId="agent_tools",
                                   traceIds=[t["id"] for t in traces])
    fix = await api.create_fix(issue["id"], type=fix_type, changes=changes)
    response = await api.post("/api/shadow-tests", json={"fixId": fix["id"], "traceIds": [t["id"] for t in traces]})
    assert response.status == 201, response.body
    return await finished(api, response.data["id"], timeout=timeout)


async def test_a_tool_description_fix_that_makes_the_agent_skip_the_wrong_tool_improves(api, fake_model):
    m = marker()
    traces = [a_tool_trace(m, n) for n in range(3)]
    test = await shadow_tested(api, traces, "tool_update", DEPRECATE_FAQ)

    assert test["status"] == "completed"
    assert {k: test["results"][k] for k in ("improved", "regressed", "diverged", "errored")} == {
        "improved": 3, "regressed": 0, "diverged": 0, "errored": 0}
    result = next(r for r in test["traceResults"] if r["traceId"] == f"tr_{m}_0")
    assert result["fixedOutput"] == RIGHT and result["verdict"] == "improved"
    assert result["replay"] == {
        "outcome": "answered", "modelCalls": 2, "finalAnswer": RIGHT, "divergedAt": None,
        "steps": [{"turn": 0, "callId": "call_0_0", "name": "get_refund_policy", "arguments": '{"topic": "returns"}',
                   "source": "recorded", "recordedCallId": "call_0_p", "result": {"answer": RIGHT, "version": 2025},
                   "status": "ok", "error": None}]}
    sent = [call for call in fake_model.calls_about(question(m, 0)) if call.get("tools")]
    assert [t["function"]["description"] for t in sent[0]["tools"]] == [
        "The refund policy in force.", "The 2023 FAQ archive. Do not use."]
    assert [msg["role"] for msg in sent[0]["messages"]] == ["system", "user"], "the recorded run is replayed anew"
    assert json.loads(sent[1]["messages"][-1]["content"]) == {"answer": RIGHT, "version": 2025}


async def test_a_fix_that_calls_a_tool_never_recorded_diverges_and_is_counted_apart(api):
    m = marker()
    traces = [a_tool_trace(m, n) for n in range(2)]
    add = {"add": [{"type": "function", "function": {"name": "escalate_to_human",
                                                     "description": "Hand the conversation to a person."}}]}
    test = await shadow_tested(api, traces, "tool_update", add)

    results = test["results"]
    assert (results["diverged"], results["improved"], results["regressed"], results["improvementRate"]) == (
        2, 0, 0, None)
    assert results["recommendation"] == "inconclusive" and "2 of 2 diverged" in results["recommendationReason"]
    result = test["traceResults"][0]
    assert result["verdict"] == "diverged" and result["fixedOutput"] is None
    assert result["replay"]["divergedAt"] == {"name": "escalate_to_human", "arguments": "{}"}
    assert result["replay"]["outcome"] == "diverged" and len(result["replay"]["steps"]) == 2
    assert "escalate_to_human({})" in result["explanation"]


async def test_tool_stubs_answer_calls_the_original_run_never_made(api):
    m = marker()
    traces = [a_tool_trace(m, 0)]
    changes = {"update": [{"name": "search_faq", "description": "Do not use."}],
               "add": [{"name": "escalate_to_human", "description": "Hand over to a person."}],
               "toolStubs": {"escalate_to_human": {"result": RIGHT}}}
    test = await shadow_tested(api, traces, "tool_update", changes)
    result = test["traceResults"][0]
    assert result["verdict"] == "improved"
    assert [(s["name"], s["source"]) for s in result["replay"]["steps"]] == [
        ("get_refund_policy", "recorded"), ("escalate_to_human", "stub")]


async def test_parallel_tool_calls_are_each_answered_from_the_run_in_the_order_asked(api):
    m = marker()
    traces = [a_tool_trace(m, 0)]
    test = await shadow_tested(api, traces, "prompt_update", {"promptDiff": f"+ {PARALLEL}"})
    replay = test["traceResults"][0]["replay"]
    assert replay["modelCalls"] == 2 and replay["outcome"] == "answered"
    assert [(s["turn"], s["name"], s["recordedCallId"]) for s in replay["steps"]] == [
        (0, "get_refund_policy", "call_0_p"), (0, "search_faq", "call_0_f")]
    assert test["traceResults"][0]["fixedOutput"] == WRONG and test["traceResults"][0]["verdict"] == "unchanged"


async def test_a_replay_still_calling_tools_at_the_step_limit_is_errored(api):
    m = marker()
    poll = {"type": "function", "function": {"name": "check_refund_status", "description": "Call again until done."}}
    traces = [a_tool_trace(m, 0, tools=(poll,), steps=[{"name": "check_refund_status", "result": "pending"}])]
    test = await shadow_tested(api, traces, "prompt_update", {"promptDiff": "+ Be brief."})
    result = test["traceResults"][0]
    assert result["verdict"] == "errored" and "Step limit" in result["explanation"]
    assert result["replay"]["outcome"] == "step_limit" and result["replay"]["modelCalls"] == 10
    assert test["results"]["errored"] == 1


async def test_a_runner_killed_mid_loop_loses_nothing_and_counts_each_trace_once(api, stack, fake_model,
                                                                                 second_runner):  # noqa: F811
    m = marker()
    traces = [a_tool_trace(m, n) for n in range(6)]
    fake_model.fail(f"[{m}]", *[Fault(delay=0.6)] * 18)
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201
    issue = await api.create_issue(title="Cites the outdated FAQ", agentId="agent_tools",
                                   traceIds=[t["id"] for t in traces])
    fix = await api.create_fix(issue["id"], type="tool_update", changes=DEPRECATE_FAQ)
    created = (await api.post("/api/shadow-tests", json={"fixId": fix["id"],
                                                         "traceIds": [t["id"] for t in traces]})).data

    def mid_loop() -> bool:
        """Every trace's replay has had its first tool call answered: each is inside its loop."""
        return all(any(msg["role"] == "tool" for call in fake_model.calls_about(question(m, n))
                       for msg in call["messages"]) for n in range(6))

    await eventually(mid_loop, 30, "every trace's replay to be mid-loop")
    stack.kill(second_runner)
    test = await finished(api, created["id"], timeout=90)

    assert test["status"] == "completed"
    assert sorted(r["traceId"] for r in test["traceResults"]) == sorted(t["id"] for t in traces)
    assert {k: test["results"][k] for k in ("improved", "unchanged", "regressed", "errored", "diverged")} == {
        "improved": 6, "unchanged": 0, "regressed": 0, "errored": 0, "diverged": 0}
    assert all(len(r["replay"]["steps"]) == 1 for r in test["traceResults"])
    assert replayed_by(stack, second_runner, created["id"]) == []
    first_calls = [c for c in fake_model.calls_about(f"[{m}]") if c.get("tools") and len(c["messages"]) == 2]
    assert len(first_calls) > 6, "the killed runner's traces were replayed again from their start"


async def test_a_bad_tool_update_is_refused_in_the_error_envelope_naming_the_field(api):
    issue = await api.create_issue(title="Tools", agentId="agent_tools")
    cases = [
        ({}, "changes", "give at least one tool to update, add or remove"),
        ({"update": [{"name": "search_faq"}]}, "changes.update.0", "give a new description or parameters"),
        ({"update": [{"name": "a", "description": "d"}], "remove": ["a"]}, "changes", "repeated: a"),
        ({"remove": ["a"], "toolStubs": {"b": {}}}, "changes.toolStubs.b", "give exactly one of result or error"),
        ({"remove": ["a"], "colour": "red"}, "changes.colour", "unknown field"),
    ]
    for changes, field, message in cases:
        response = await api.post("/api/fixes", json={"issueId": issue["id"], "type": "tool_update",
                                                      "description": "d", "changes": changes})
        assert response.status == 400, response.body
        error = response.body["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert any(d["field"] == field and message in d["message"] for d in error["details"]), (changes, error)
    created = await api.create_fix(issue["id"], type="tool_update", changes={"remove": ["search_faq"]})
    listed = (await api.get("/api/fixes", params={"type": "tool_update", "issueId": issue["id"]})).data
    assert [fix["id"] for fix in listed] == [created["id"]]
    assert listed[0]["changes"] == {"update": [], "add": [], "remove": ["search_faq"]}, "kept in canonical form"
