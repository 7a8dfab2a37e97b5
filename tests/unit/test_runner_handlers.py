"""The shadow runner's handlers over in-memory ports: creating a test, the per-trace replay,
score and record flow, stopping a test, and one-off execution."""

import json
import re
from datetime import UTC, datetime

import pytest

from services.shadow_runner import bootstrap, handlers
from services.shadow_runner.adapters.remote import RUNNER_FIX_FIELDS, runner_fix
from services.shadow_runner.domain.commands import ReplayRequested
from services.shadow_runner.ports import ParameterRefused
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, NotFound, Unavailable, UpstreamFailed
from shared.contracts.fixes import FixDetail
from shared.contracts.shadow_tests import (
    ActiveShadowTests,
    CreateShadowTest,
    ExecuteShadow,
    GetShadowTest,
    ListShadowTests,
    UpdateShadowTest,
)
from shared.contracts.traces import Trace
from shared.messaging.commands import CommandContext
from tests.unit.fakes import RecordingNotifier
from tests.unit.runner_fakes import (
    FakeNeighbours,
    FakeShadowTests,
    RecordingMetrics,
    ScriptedModel,
    an_issue,
    failing,
)

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
RIGHT = "Refunds are accepted within 30 days of purchase."
WRONG = "Refunds are accepted within 60 days of purchase."


def a_fix(status="testing", fix_type="prompt_update", changes=None, issue_id="iss_1") -> FixDetail:
    return FixDetail(id="fix_1", issue_id=issue_id, type=fix_type, status=status, description="d",
                     changes=changes or {"promptDiff": "- old\n+ old, citing the 30-day window"}, author="a",
                     created_at=NOW, updated_at=NOW, shadow_tests=[])


def a_trace(trace_id: str, recorded: str = WRONG, expected: str | None = RIGHT) -> Trace:
    return Trace.model_validate({"id": trace_id, "agentId": "agent_a", "model": {"name": "m"}, "systemPrompt": "old",
                                 "input": [{"role": "user", "content": f"A refund after 45 days? ({trace_id})"}],
                                 "output": recorded, "expectedOutput": expected, "timestamp": NOW,
                                 "ingestedAt": NOW}, by_name=False)


TRACES = [a_trace(f"tr_{n}") for n in range(3)]


def answering(text: str) -> ScriptedModel:
    return ScriptedModel(lambda request: text)


def models(replay=None, judge=None) -> handlers.Models:
    return handlers.Models(replay=replay, judge=judge, judge_model_name="judge-model", model_override=None,
                           margin=0.05)


def build(replay=None, judge=None, sync=None, traces=TRACES, fix=None):
    neighbours = FakeNeighbours(fixes=[fix or a_fix()], traces=traces,
                                issues=[an_issue("iss_1", "Outdated refund window", "Cites 60 days")])
    return bootstrap.build(FakeShadowTests(), neighbours, models(replay or answering(RIGHT), judge),
                           RecordingNotifier(), sync_models=sync, metrics=RecordingMetrics(), clock=lambda: NOW)


@pytest.fixture
def deps():
    return build()


def context(command_id="cmd-1") -> CommandContext:
    return CommandContext(command_id=command_id, workspace="ws", actor="key_1", correlation_id="corr-1")


def create(trace_ids=("tr_0", "tr_1", "tr_2"), mode="automated") -> CreateShadowTest:
    return CreateShadowTest(fix_id="fix_1", trace_ids=list(trace_ids), config={"comparison_mode": mode})


async def replay(deps, test_id: str, trace_id: str) -> None:
    work = ReplayRequested(shadow_test_id=test_id, trace_id=trace_id)
    envelope = Envelope(type=work.routing_key, workspace="ws", correlation_id="corr-1", payload=work.to_wire())
    await handlers.on_replay_requested(work, envelope, deps)


async def execute(deps, trace_id: str = "tr_0", mode: str = "automated"):
    command = ExecuteShadow(fix_id="fix_1", trace_id=trace_id, config={"comparison_mode": mode})
    return await handlers.execute_shadow(command, context(), deps)


async def detail(deps, test_id: str):
    return await handlers.get_shadow_test(GetShadowTest(shadow_test_id=test_id), context(), deps)


async def test_a_new_test_is_pending_queues_one_replay_per_trace_and_the_same_command_replays_its_answer(deps):
    created = await handlers.create_shadow_test(create(), context(), deps)
    test = created.test
    assert (test.status, test.trace_count, created.replayed) == ("pending", 3, False)
    assert deps.tests.events(test.id) == ["shadow_test.created"] + ["replay.requested"] * 3
    assert [e.payload["traceId"] for e in deps.tests.outbox[test.id][1:]] == ["tr_0", "tr_1", "tr_2"]
    assert deps.notify.notified == [test.id]
    assert deps.tests.stored[test.id].issue.title == "Outdated refund window"

    again = await handlers.create_shadow_test(create(), context(), deps)
    assert (again.test, again.replayed) == (test, True)
    assert len(deps.tests.events(test.id)) == 4 and deps.notify.notified == [test.id]
    listed = await handlers.list_shadow_tests(ListShadowTests(), context(), deps)
    assert [t.id for t in listed.items] == [test.id] and listed.total == 1
    active = await handlers.active_shadow_tests(ActiveShadowTests(issue_id="iss_1"), context(), deps)
    assert active.ids == [test.id]


@pytest.mark.parametrize("fix, error, message", [
    (None, NotFound, "Fix fix_1 not found"),
    (a_fix(status="applied"), Conflict, "Fix fix_1 is applied; only a draft, proposed or testing fix"),
])
async def test_a_test_of_a_fix_that_is_gone_or_done_is_refused(fix, error, message):
    deps = build(fix=fix)
    if fix is None:
        deps.remote.fixes.clear()
    with pytest.raises(error, match=message):
        await handlers.create_shadow_test(create(), context(), deps)
    assert deps.tests.stored == {}


async def test_a_test_of_traces_not_found_names_each_by_its_place(deps):
    with pytest.raises(NotFound, match="Traces not found: tr_x, tr_y") as refused:
        await handlers.create_shadow_test(create(["tr_0", "tr_x", "tr_y"]), context(), deps)
    assert [d.field for d in refused.value.details] == ["traceIds.1", "traceIds.2"]
    assert deps.tests.stored == {}


async def test_each_trace_is_replayed_scored_and_recorded_once_and_the_last_completes_the_test(deps):
    test_id = (await handlers.create_shadow_test(create(), context(), deps)).test.id
    await replay(deps, test_id, "tr_0")
    assert deps.tests.stored[test_id].status == "running"
    await replay(deps, test_id, "tr_0")
    assert len(deps.models.replay.requests) == 1, "a redelivered trace is not replayed again"
    assert deps.metrics.verdicts == ["improved"]
    await replay(deps, test_id, "tr_1")
    await replay(deps, test_id, "tr_2")

    shown = await detail(deps, test_id)
    assert (shown.status, shown.started_at, shown.completed_at) == ("completed", NOW, NOW)
    assert shown.results.improved == 3 and shown.results.improvement_rate == 1.0
    result = shown.trace_results[0]
    assert (result.original_output, result.fixed_output, result.scoring) == (WRONG, RIGHT, "automated")
    assert result.original_score < result.fixed_score and result.explanation.startswith("Automated:")
    assert deps.tests.events(test_id)[4:] == ["shadow_test.started", "shadow_test.completed"]
    request = deps.models.replay.requests[0]
    assert "citing the 30-day window" in request.messages[0]["content"], "the fix is applied to the replay"

    await replay(deps, test_id, "tr_1")
    assert deps.tests.events(test_id)[4:] == ["shadow_test.started", "shadow_test.completed"]


async def test_work_for_a_test_no_longer_active_is_skipped(deps):
    test_id = (await handlers.create_shadow_test(create(), context(), deps)).test.id
    stop = UpdateShadowTest(shadow_test_id=test_id, patch={"status": "failed", "results": {"error": "stopped"}})
    await handlers.update_shadow_test(stop, context("cmd-2"), deps)
    await replay(deps, test_id, "tr_0")
    assert deps.models.replay.requests == [] and deps.tests.recorded == {}
    await replay(deps, "st_unknown", "tr_0")


async def test_a_stopped_test_counts_and_lists_the_results_it_had_and_none_that_arrive_afterwards(deps):
    test_id = (await handlers.create_shadow_test(create(), context(), deps)).test.id
    await replay(deps, test_id, "tr_0")
    deps.models.replay.answer = lambda request: WRONG
    await replay(deps, test_id, "tr_1")

    async def a_runner_records_meanwhile(_test):
        await deps.tests.record_result(test_id, deps.tests.recorded[test_id]["tr_0"].model_copy(
            update={"trace_id": "tr_2"}))

    deps.tests.on_save.append(a_runner_records_meanwhile)
    stop = UpdateShadowTest(shadow_test_id=test_id, patch={"status": "failed", "results": {"error": "stopped"}})
    stopped = await handlers.update_shadow_test(stop, context("cmd-2"), deps)

    shown = await detail(deps, test_id)
    assert stopped.status == "failed" and stopped.results == shown.results
    assert shown.results.model_dump(include={"improved", "unchanged", "regressed", "errored", "error"}) == {
        "improved": 1, "unchanged": 1, "regressed": 0, "errored": 0, "error": "stopped"}
    assert shown.results.significance is None and shown.results.recommendation is None, "no statistics when stopped"
    assert [r.trace_id for r in shown.trace_results] == ["tr_0", "tr_1"]
    assert deps.tests.events(test_id)[-1] == "shadow_test.failed"

    again = await handlers.update_shadow_test(stop, context("cmd-3"), deps)
    assert again == stopped and deps.tests.events(test_id).count("shadow_test.failed") == 1
    with pytest.raises(Conflict, match="is failed; only a pending or running test can be failed"):
        other = UpdateShadowTest(shadow_test_id=test_id, patch={"status": "failed", "results": {"error": "other"}})
        await handlers.update_shadow_test(other, context("cmd-4"), deps)


async def test_a_model_that_fails_or_a_trace_that_is_gone_gives_an_errored_result_naming_why():
    deps = build(replay=failing("replay model: the endpoint answered HTTP 500 (after 4 attempts)"),
                 traces=TRACES[:2])
    test_id = (await handlers.create_shadow_test(create(["tr_0", "tr_1"]), context(), deps)).test.id
    await replay(deps, test_id, "tr_0")
    del deps.remote.traces["tr_1"]
    await replay(deps, test_id, "tr_1")
    shown = await detail(deps, test_id)
    assert shown.status == "completed" and shown.results.errored == 2
    explanations = {r.trace_id: r.explanation for r in shown.trace_results}
    assert explanations == {"tr_0": "replay model: the endpoint answered HTTP 500 (after 4 attempts)",
                            "tr_1": "The trace is gone"}


async def test_an_outage_is_retried_not_recorded(deps):
    test_id = (await handlers.create_shadow_test(create(), context(), deps)).test.id
    deps.remote.trace_failure = Unavailable("The traces service is unreachable")
    with pytest.raises(Unavailable):
        await replay(deps, test_id, "tr_0")
    assert deps.tests.recorded == {}


async def test_a_bug_in_a_neighbour_is_recorded_as_errored():
    deps = build()
    test_id = (await handlers.create_shadow_test(create(["tr_0"]), context(), deps)).test.id
    deps.remote.trace_failure = RuntimeError("unexpected")
    await replay(deps, test_id, "tr_0")
    [result] = (await detail(deps, test_id)).trace_results
    assert (result.verdict, result.explanation) == ("errored", "Replay failed: unexpected")


def judging(grade: dict[str, float], bias_to_first: float = 0.0) -> ScriptedModel:
    """A judge scoring each answer by `grade`, adding `bias_to_first` to the one it reads first."""

    def reply(request) -> str:
        first, second = re.search(r"Answer A:\n(.*)\n\nAnswer B:\n(.*)", request.messages[1]["content"], re.S).groups()
        return json.dumps({"scoreA": min(1.0, grade[first] + bias_to_first), "scoreB": grade[second],
                           "explanation": f"A {grade[first]}, B {grade[second]}"})

    return ScriptedModel(reply)


async def test_the_judge_is_asked_in_both_orders_and_each_reply_goes_back_to_its_answer():
    deps = build(judge=judging({RIGHT: 0.9, WRONG: 0.2}))
    result = await execute(deps, mode="side_by_side")
    assert (result.original_score, result.fixed_score, result.verdict) == (0.2, 0.9, "improved")
    original_first, fixed_first = sorted(deps.models.judge.requests, key=lambda r: RIGHT in r.messages[1]["content"]
                                         .split("Answer B:")[0])
    for asked, first, second in ((original_first, WRONG, RIGHT), (fixed_first, RIGHT, WRONG)):
        assert f"Answer A:\n{first}\n\nAnswer B:\n{second}" in asked.messages[1]["content"]
        assert "Known problem with this agent: Outdated refund window\nCites 60 days" in asked.messages[1]["content"]
        assert asked.model == "judge-model" and asked.parameters["response_format"]["type"] == "json_schema"
    assert result.judge_agreement.agreed
    assert 'Original shown first: original 0.20, fixed 0.90 (improved); the judge said "A 0.2, B 0.9"' in (
        result.explanation)


async def test_a_judge_biased_to_the_first_answer_does_not_move_the_verdict():
    fair = await execute(build(judge=judging({RIGHT: 0.9, WRONG: 0.2})), mode="side_by_side")
    biased = await execute(build(judge=judging({RIGHT: 0.9, WRONG: 0.2}, bias_to_first=0.3)), mode="side_by_side")
    assert biased.verdict == fair.verdict == "improved" and biased.judge_agreement.agreed


async def test_a_judge_whose_preference_follows_the_order_gives_unchanged_and_says_so():
    result = await execute(build(judge=judging({RIGHT: 0.6, WRONG: 0.4}, bias_to_first=0.5)), mode="side_by_side")
    assert result.verdict == "unchanged" and not result.judge_agreement.agreed
    assert result.judge_agreement.original_first.verdict == "regressed"
    assert result.judge_agreement.fixed_first.verdict == "improved"
    assert result.explanation.endswith("The orders disagree on which answer is better, so the verdict is unchanged.")


async def test_an_endpoint_refusing_structured_output_is_asked_for_json_in_words_from_then_on():
    fair = judging({RIGHT: 0.9, WRONG: 0.2})

    def refusing(request):
        if "response_format" in request.parameters:
            return ParameterRefused("judge model: HTTP 400: response_format is not supported", "response_format")
        return fair.answer(request)

    deps = build(judge=ScriptedModel(refusing))
    first = await execute(deps, mode="side_by_side")
    asked_first = len(deps.models.judge.requests)
    second = await execute(deps, mode="side_by_side")
    assert first.verdict == second.verdict == "improved"
    later = deps.models.judge.requests[asked_first:]
    assert len(later) == 2 and all("response_format" not in request.parameters for request in later)


async def test_a_judge_that_keeps_answering_nonsense_is_asked_three_times_per_order_then_the_trace_errs():
    deps = build(judge=answering("I think B is better"))
    result = await execute(deps, mode="side_by_side")
    assert len(deps.models.judge.requests) == 6
    assert result.verdict == "errored" and result.fixed_output == RIGHT and result.judge_agreement is None
    assert result.explanation.startswith("Could not score: no JSON object") and "(after 3 attempts)" in (
        result.explanation)


async def test_side_by_side_without_a_judge_is_scored_automatically_and_says_so(deps):
    result = await execute(deps, mode="side_by_side")
    assert result.verdict == "improved"
    assert result.explanation.startswith("No judge model is configured, so scored automatically. Automated:")


async def test_a_trace_without_expected_output_and_a_fix_not_a_guardrail_cannot_be_scored_automatically():
    deps = build(traces=[a_trace("tr_0", expected=None)])
    result = await execute(deps)
    assert result.verdict == "errored" and result.fixed_output == RIGHT
    assert result.explanation.startswith("Could not score automatically: the trace has no expectedOutput")


async def test_a_guardrail_replaces_a_forbidden_answer_and_is_scored_on_keeping_the_rule():
    guardrail = a_fix(fix_type="guardrail", changes={"rule": "block_pattern", "pattern": "60 days",
                                                     "fallback": "Let me check our current policy."})
    deps = build(replay=answering("Refunds within 60 days, guaranteed."), traces=[a_trace("tr_0", expected=None)],
                 fix=guardrail)
    result = await execute(deps)
    assert result.fixed_output == "Let me check our current policy."
    assert (result.original_score, result.fixed_score, result.verdict) == (0.0, 1.0, "improved")


async def test_a_stored_guardrail_re2_cannot_compile_is_a_per_trace_error_before_any_model_call():
    guardrail = a_fix(fix_type="guardrail", changes={"rule": "block_pattern", "pattern": r"(\w+) \1",
                                                     "fallback": "x"})
    deps = build(fix=guardrail)
    result = await execute(deps)
    assert result.verdict == "errored" and "the guardrail cannot be applied" in result.explanation
    assert deps.models.replay.requests == []


async def test_an_execution_uses_its_own_models_and_a_model_failure_is_an_upstream_failure():
    deps = build(replay=failing("batch models are busy"), sync=models(replay=answering(RIGHT)))
    execution = await handlers.execute_shadow(ExecuteShadow(fix_id="fix_1", trace_id="tr_0"), context(), deps)
    assert (execution.verdict, execution.fixed_output, execution.executed_at) == ("improved", RIGHT, NOW)
    assert deps.models.replay.requests == []

    deps = build(replay=failing("replay model: no answer within 60s (after 4 attempts)"))
    with pytest.raises(UpstreamFailed, match="no answer within 60s"):
        await handlers.execute_shadow(ExecuteShadow(fix_id="fix_1", trace_id="tr_0"), context(), deps)
    with pytest.raises(NotFound, match="Trace tr_gone not found"):
        await handlers.execute_shadow(ExecuteShadow(fix_id="fix_1", trace_id="tr_gone"), context(), deps)


async def test_the_runner_keeps_of_a_fix_only_what_it_needs_and_ignores_fields_it_does_not_know():
    wire = {**a_fix().to_wire(), "statusHistory": [{"status": "draft", "enteredAt": "2025-08-15T10:00:00Z"}],
            "aFieldFromANewerFixesService": {"anything": 1}}
    kept = runner_fix(wire)
    assert kept.id == "fix_1" and kept.changes == a_fix().changes and kept.status_history == []
    assert set(kept.model_dump(exclude_defaults=True)) <= RUNNER_FIX_FIELDS

    history = [{"status": "draft", "entered_at": NOW}, {"status": "testing", "entered_at": NOW}]
    deps = build(fix=FixDetail.model_validate({**a_fix().model_dump(), "status_history": history}))
    created = await handlers.create_shadow_test(create(), context(), deps)
    assert deps.tests.stored[created.test.id].fix.status_history == []
