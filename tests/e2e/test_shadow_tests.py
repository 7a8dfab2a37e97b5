"""Shadow testing through HTTP: traces in, a fix replayed against a local fake model, scored."""

import uuid

import pytest

from deploy.local.demo_model import GROUNDED, RIGHT, SILENCED, WRONG, Fault
from tests.support.output import REPLAY_SKIPPED, TRACE_REPLAYED, records
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

PROMPT = "You are a support agent.\nAnswer refund questions using the knowledge base."
GROUNDING_DIFF = ("- Answer refund questions using the knowledge base.\n"
                  f"+ Answer refund questions using the knowledge base. {GROUNDED}")


def a_trace(marker: str, n: int, question: str = "Can I get a refund after 45 days?", recorded: str = WRONG) -> dict:
    return {
        "id": f"tr_{marker}_{n}",
        "agentId": "agent_support",
        "agentName": "Support Bot",
        "customerId": f"cust_{n % 3}",
        "timestamp": f"2025-08-1{n % 10}T10:00:00Z",
        "model": {"name": "gpt-test", "parameters": {"temperature": 0.2}},
        "systemPrompt": PROMPT,
        "input": [{"role": "user", "content": f"{question} [{marker}]"}],
        "output": recorded,
        "expectedOutput": RIGHT,
    }


async def setup(api, traces: list[dict], changes: dict | None = None, fix_type: str = "prompt_update"):
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201
    issue = await api.create_issue(title="Incorrect refund policy citations", agentId="agent_support",
                                   description="Agent cites the outdated 60-day refund window",
                                   traceIds=[t["id"] for t in traces])
    fix = await api.create_fix(issue["id"], type=fix_type, changes=changes or {"promptDiff": GROUNDING_DIFF})
    return issue, fix


async def start_test(api, fix: dict, traces: list[dict], mode: str = "side_by_side") -> dict:
    response = await api.post("/api/shadow-tests", json={
        "fixId": fix["id"], "traceIds": [t["id"] for t in traces], "config": {"comparisonMode": mode}})
    assert response.status == 201, response.body
    return response.data


async def finished(api, test_id: str, timeout: float = 60) -> dict:
    async def done():
        test = (await api.get(f"/api/shadow-tests/{test_id}")).data
        return test if test["status"] in ("completed", "failed") else None

    return await eventually(done, timeout, f"shadow test {test_id} to finish", interval=0.2)


COUNTS = ("improved", "unchanged", "regressed", "errored", "improvementRate", "error")


def marker() -> str:
    return uuid.uuid4().hex[:8]


async def test_a_grounding_fix_improves_8_of_10_and_breaks_1(api):
    m = marker()
    traces = [a_trace(m, n) for n in range(8)]
    traces.append(a_trace(m, 8, recorded=RIGHT))
    traces.append(a_trace(m, 9, question="Is my blender under warranty?", recorded="The warranty lasts 12 months."))
    issue, fix = await setup(api, traces)

    created = await start_test(api, fix, traces)
    assert created["status"] == "pending" and created["traceCount"] == 10
    assert created["config"] == {"comparisonMode": "side_by_side", "controlTraceIds": []}
    test = await finished(api, created["id"])

    assert test["status"] == "completed" and test["completedAt"] and test["startedAt"]
    assert {k: v for k, v in test["results"].items() if k in COUNTS} == {
        "improved": 8, "unchanged": 1, "regressed": 1, "errored": 0, "improvementRate": 0.8, "error": None}
    assert test["results"]["recommendation"] == "ship" and test["results"]["control"] is None
    by_trace = {r["traceId"]: r for r in test["traceResults"]}
    assert len(test["traceResults"]) == 10 == len(by_trace)
    assert by_trace[f"tr_{m}_0"]["verdict"] == "improved"
    assert (by_trace[f"tr_{m}_0"]["originalScore"], by_trace[f"tr_{m}_0"]["fixedScore"]) == (0.2, 0.9)
    assert by_trace[f"tr_{m}_0"]["fixedOutput"] == RIGHT
    assert by_trace[f"tr_{m}_8"]["verdict"] == "unchanged"
    assert by_trace[f"tr_{m}_9"]["verdict"] == "regressed"
    assert all(r["explanation"] and r["scoring"] == "side_by_side" for r in test["traceResults"])

    async def fix_knows():
        shown = (await api.get(f"/api/fixes/{fix['id']}")).data
        summary = {"id": test["id"], "status": "completed", "improvementRate": 0.8, "recommendation": "ship"}
        return shown if shown["shadowTests"] == [summary] else None

    shown = await eventually(fix_knows, 10, "the fix's shadow test summary")
    assert shown["status"] == "testing"
    await api.issue_when(issue["id"], lambda i: i["status"] == "testing", "the issue to be testing")


async def test_a_fix_that_silences_the_agent_is_scored_regressed(api):
    m = marker()
    traces = [a_trace(m, n, recorded=RIGHT) for n in range(3)]
    _, fix = await setup(api, traces, changes={"systemPrompt": f"You are a support agent. {SILENCED}"})
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    assert test["results"]["regressed"] == 3
    assert test["results"]["improvementRate"] == 0.0


async def test_automated_scoring_uses_the_expected_output(api):
    m = marker()
    traces = [a_trace(m, n) for n in range(2)]
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces, mode="automated"))["id"])
    assert test["results"]["improved"] == 2
    result = test["traceResults"][0]
    assert result["scoring"] == "automated" and "against the expected output" in result["explanation"]
    assert result["fixedScore"] > 0.9 > 0.3 > result["originalScore"]


async def test_rate_limits_and_server_errors_are_retried_then_reported_per_trace(api, fake_model):
    m = marker()
    traces = [a_trace(m, 0), a_trace(m, 1)]
    fake_model.fail(f"{m}_0".split("_")[0] + "] ", Fault(status=429, retry_after="0"))
    fake_model.fail(f"[{m}]", Fault(status=429, retry_after="1"), Fault(status=503))
    _, fix = await setup(api, traces[:1])
    test = await finished(api, (await start_test(api, fix, traces[:1]))["id"])
    assert test["results"]["improved"] == 1, test["traceResults"]

    m2 = marker()
    broken = [a_trace(m2, 0)]
    fake_model.fail(f"[{m2}]", *[Fault(status=500)] * 3)
    _, fix2 = await setup(api, broken)
    test = await finished(api, (await start_test(api, fix2, broken))["id"])
    assert test["results"]["errored"] == 1 and test["results"]["improvementRate"] is None
    explanation = test["traceResults"][0]["explanation"]
    assert "HTTP 500" in explanation and "3 attempts" in explanation


async def test_garbage_from_the_model_is_retried_then_reported(api, fake_model):
    m = marker()
    traces = [a_trace(m, 0)]
    fake_model.fail(f"[{m}]", *[Fault(body='{"not": "a completion"}')] * 3)
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    assert test["results"]["errored"] == 1
    assert "not a chat completion" in test["traceResults"][0]["explanation"]


async def test_a_diff_that_does_not_apply_is_a_per_trace_error(api):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces, changes={"promptDiff": "- A line this prompt never had.\n+ Something new."})
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    assert test["status"] == "completed" and test["results"]["errored"] == 1
    assert "not in this trace's system prompt" in test["traceResults"][0]["explanation"]


async def test_creation_checks_the_fix_and_every_trace(api):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces)
    missing = await api.post("/api/shadow-tests", json={"fixId": fix["id"], "traceIds": [traces[0]["id"], "tr_nope"]})
    assert missing.status == 404
    assert "tr_nope" in missing.error["message"]
    assert missing.error["details"] == [{"field": "traceIds.1", "message": "trace tr_nope not found"}]
    no_fix = await api.post("/api/shadow-tests", json={"fixId": "fix_nope", "traceIds": [traces[0]["id"]]})
    assert no_fix.status == 404 and no_fix.error["message"] == "Fix fix_nope not found"
    await api.patch(f"/api/fixes/{fix['id']}", json={"status": "rejected"})
    rejected = await api.post("/api/shadow-tests", json={"fixId": fix["id"], "traceIds": [traces[0]["id"]]})
    assert rejected.status == 409
    assert (await api.get("/api/shadow-tests", params={"fixId": fix["id"]})).data == []


async def test_list_and_filters(api):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    listed = await api.get("/api/shadow-tests", params={"fixId": fix["id"], "status": "completed"})
    assert [t["id"] for t in listed.data] == [test["id"]]
    assert "traceResults" not in listed.data[0]
    assert listed.body["pagination"]["total"] == 1
    assert (await api.get("/api/shadow-tests", params={"status": "running", "fixId": fix["id"]})).data == []


async def test_failing_a_test_stops_its_remaining_traces(api, fake_model, stack):
    m = marker()
    traces = [a_trace(m, n) for n in range(6)]
    issue, fix = await setup(api, traces)
    fake_model.fail(f"[{m}]", *[Fault(delay=1.0)] * 6)
    created = await start_test(api, fix, traces)

    async def running():
        return (await api.get(f"/api/shadow-tests/{created['id']}")).data["status"] == "running"

    await eventually(running, 20, "the test to start")
    stopped = await api.patch(f"/api/shadow-tests/{created['id']}",
                              json={"status": "failed", "results": {"error": "Upstream model returned 429"}})
    assert stopped.status == 200 and stopped.data["status"] == "failed"
    assert stopped.data["results"]["error"] == "Upstream model returned 429"

    await eventually(lambda: replays_handled(stack, created["id"]) == 6, 30,
                     "every replay of the failed test to be handled")
    final = (await api.get(f"/api/shadow-tests/{created['id']}")).data
    assert final["status"] == "failed" and len(final["traceResults"]) < 6
    again = await api.patch(f"/api/shadow-tests/{created['id']}", json={"status": "failed"})
    assert again.status == 409
    bad = await api.patch(f"/api/shadow-tests/{created['id']}", json={"status": "completed"})
    assert bad.status == 400


def replays_handled(stack, test_id: str) -> int:
    """How many of the test's traces the runner replayed or skipped, by its log."""
    lines = stack.log_lines("shadow_runner")
    handled = [*records(lines, shadow_test_id=test_id, event=TRACE_REPLAYED),
               *records(lines, shadow_test_id=test_id, event=REPLAY_SKIPPED)]
    return len({line["trace_id"] for line in handled})


async def stopped_as_results_arrive(api, fake_model, stack, size: int = 12) -> tuple[dict, dict]:
    """A test stopped once its first result is in, while the others land every ~20 ms; its
    answer to the stop, and the test once every replay was handled."""
    m = marker()
    traces = [a_trace(m, n) for n in range(size)]
    _, fix = await setup(api, traces)
    fake_model.fail(f"[{m}]", *[Fault(delay=0.3 + 0.02 * n) for n in range(size)])
    test_id = (await start_test(api, fix, traces, mode="automated"))["id"]

    async def some_result():
        return (await api.get(f"/api/shadow-tests/{test_id}")).data["traceResults"]

    await eventually(some_result, 20, "a first result", interval=0.01)
    stopped = await api.patch(f"/api/shadow-tests/{test_id}", json={"status": "failed", "results": {"error": "stop"}})
    assert stopped.status == 200, stopped.body
    await eventually(lambda: replays_handled(stack, test_id) == size, 30,
                     "every replay of the stopped test to be handled")
    return stopped.data, (await api.get(f"/api/shadow-tests/{test_id}")).data


async def test_a_test_stopped_while_results_arrive_lists_exactly_what_it_counts(api, fake_model, stack):
    """Stops tests while their results stream in, eight times: each failed test's counts are
    those of the results it lists, however late results land, and what the stop answered."""
    for _ in range(8):
        stopped, final = await stopped_as_results_arrive(api, fake_model, stack)
        listed = [result["verdict"] for result in final["traceResults"]]
        counts = {verdict: listed.count(verdict) for verdict in ("improved", "unchanged", "regressed", "errored")}
        assert {verdict: final["results"][verdict] for verdict in counts} == counts, final
        scored = counts["improved"] + counts["unchanged"] + counts["regressed"]
        assert final["results"]["improvementRate"] == (round(counts["improved"] / scored, 4) if scored else None)
        assert final["results"] == stopped["results"]


async def test_an_issue_with_an_active_test_cannot_be_deleted(api, fake_model):
    m = marker()
    traces = [a_trace(m, 0)]
    issue, fix = await setup(api, traces)
    fake_model.fail(f"[{m}]", Fault(delay=3.0))
    created = await start_test(api, fix, traces)
    conflict = await api.delete(f"/api/v2/issues/{issue['id']}")
    assert conflict.status == 409, conflict.body
    assert conflict.error["code"] == "CONFLICT" and created["id"] in conflict.error["message"]
    await finished(api, created["id"])

    async def deleted():
        response = await api.delete(f"/api/v2/issues/{issue['id']}")
        assert response.status in (200, 409), response.body
        return response.status == 200

    await eventually(deleted, 10, "the issue to learn the test completed", interval=0.2)


async def test_one_trace_executed_synchronously(api):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces)
    response = await api.post("/api/shadow-execution", json={"fixId": fix["id"], "traceId": traces[0]["id"]})
    assert response.status == 200
    result = response.data
    assert set(result) == {"traceId", "fixId", "originalOutput", "fixedOutput", "verdict", "originalScore",
                           "fixedScore", "explanation", "latencyMs", "executedAt", "judgeAgreement", "replay"}
    assert (result["originalOutput"], result["fixedOutput"]) == (WRONG, RIGHT)
    assert result["judgeAgreement"]["agreed"] is True
    assert result["verdict"] == "improved" and result["latencyMs"] >= 0
    assert (await api.get(f"/api/fixes/{fix['id']}")).data["status"] == "draft"


async def test_synchronous_execution_times_out_cleanly_and_reports_model_failures(api, fake_model):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces)
    fake_model.fail(f"[{m}]", Fault(delay=8.0))
    slow = await api.post("/api/shadow-execution", json={"fixId": fix["id"], "traceId": traces[0]["id"]})
    assert slow.status == 504 and slow.error["code"] == "TIMEOUT"

    fake_model.fail(f"[{m}]", *[Fault(status=500)] * 3)
    failing = await api.post("/api/shadow-execution", json={"fixId": fix["id"], "traceId": traces[0]["id"]})
    assert failing.status == 502 and failing.error["code"] == "UPSTREAM_ERROR"
    assert "HTTP 500" in failing.error["message"]
    missing = await api.post("/api/shadow-execution", json={"fixId": fix["id"], "traceId": "tr_nope"})
    assert missing.status == 404


WARRANTY = "Is my blender under warranty?"


async def test_control_traces_guard_against_collateral_regressions(api):
    """Six issue traces the grounding fix mends, and six controls outside the issue: refund
    questions answered right (the fix keeps them right, so it ships) or warranty questions (the
    fix makes the agent refuse them, so the controls regress and it cannot ship)."""
    m = marker()
    issue_traces = [a_trace(m, n) for n in range(6)]
    kept = [a_trace(m, 10 + n, recorded=RIGHT) for n in range(6)]
    broken = [a_trace(m, 20 + n, question=WARRANTY, recorded="The warranty lasts 12 months.") for n in range(6)]
    assert (await api.post("/api/v2/traces", json={"traces": kept + broken})).status == 201
    _, fix = await setup(api, issue_traces)

    async def test_with(controls: list[dict]) -> dict:
        response = await api.post("/api/shadow-tests", json={
            "fixId": fix["id"], "traceIds": [t["id"] for t in issue_traces],
            "config": {"controlTraceIds": [t["id"] for t in controls]}})
        assert response.status == 201, response.body
        assert response.data["config"]["controlTraceIds"] == [t["id"] for t in controls]
        return await finished(api, response.data["id"])

    ships = await test_with(kept)
    results = ships["results"]
    assert (results["improved"], results["regressed"], results["improvementRate"]) == (6, 0, 1.0)
    assert results["significance"]["method"] == "sign_test" and results["significance"]["pValue"] == 0.03125
    assert results["significance"]["improvementRateCi95"][1] == 1.0
    assert results["recommendation"] == "ship" and results["minimumTraces"] is None
    assert (results["control"]["unchanged"], results["control"]["regressed"]) == (6, 0)
    assert sorted(r["traceId"] for r in ships["traceResults"]) == sorted(t["id"] for t in issue_traces)
    assert sorted(r["traceId"] for r in ships["controlTraceResults"]) == sorted(t["id"] for t in kept)

    breaks = await test_with(broken)
    results = breaks["results"]
    assert (results["improved"], results["regressed"]) == (6, 0), "the controls are counted apart"
    assert results["recommendation"] == "reject"
    assert "controls regressed significantly" in results["recommendationReason"]
    control = results["control"]
    assert (control["regressed"], control["significance"]["pValue"]) == (6, 0.03125)
    assert all(r["verdict"] == "regressed" for r in breaks["controlTraceResults"])

    async def fix_shows_both():
        shown = (await api.get(f"/api/fixes/{fix['id']}")).data
        by_test = {t["id"]: t.get("recommendation") for t in shown["shadowTests"]}
        return by_test if by_test == {ships["id"]: "ship", breaks["id"]: "reject"} else None

    await eventually(fix_shows_both, 10, "the fix to show each test's recommendation")


async def test_control_traces_that_repeat_the_test_or_do_not_exist_are_refused(api):
    m = marker()
    traces = [a_trace(m, 0), a_trace(m, 1)]
    _, fix = await setup(api, traces[:1])
    await api.post("/api/v2/traces", json={"traces": traces[1:]})

    async def create(controls: list[str]):
        return await api.post("/api/shadow-tests", json={"fixId": fix["id"], "traceIds": [traces[0]["id"]],
                                                          "config": {"controlTraceIds": controls}})

    overlapping = await create([traces[1]["id"], traces[0]["id"]])
    assert overlapping.status == 400 and overlapping.body["error"]["code"] == "VALIDATION_ERROR"
    assert overlapping.body["error"]["details"] == [
        {"field": "config.controlTraceIds.1", "message": f"trace {traces[0]['id']} is also in traceIds"}]
    repeated = await create([traces[1]["id"], traces[1]["id"]])
    assert repeated.status == 400 and "repeated" in repeated.body["error"]["message"]
    unknown = await create([traces[1]["id"], f"tr_{m}_nope"])
    assert unknown.status == 404
    assert [d["field"] for d in unknown.body["error"]["details"]] == ["config.controlTraceIds.1"]
    listed = (await api.get(f"/api/shadow-tests?fixId={fix['id']}")).body
    assert listed["pagination"]["total"] == 0, "nothing was stored"
