"""Control traces through the runner's handlers: replayed beside the issue's traces, counted apart,
and the statistics (checked against scipy) and recommendation of a completed test."""

import pytest
from pydantic import ValidationError
from scipy import stats

from services.shadow_runner import handlers
from shared.contracts.errors import InvalidRequest, NotFound
from shared.contracts.shadow_tests import CreateShadowTest
from tests.unit.test_runner_handlers import RIGHT, WRONG, a_trace, build, context, detail, replay

ISSUE_TRACES = [f"tr_{n}" for n in range(6)]
CONTROLS = [f"ctl_{n}" for n in range(6)]
TRACES = [a_trace(trace_id) for trace_id in ISSUE_TRACES] + [a_trace(trace_id, recorded=RIGHT) for trace_id in CONTROLS]


def create(controls=CONTROLS, trace_ids=ISSUE_TRACES) -> CreateShadowTest:
    return CreateShadowTest.model_validate({"fixId": "fix_1", "traceIds": list(trace_ids),
                                            "config": {"comparisonMode": "automated", "controlTraceIds": controls}})


def fixed_answer(breaks_controls: bool):
    def answer(request) -> str:
        asked = request.messages[-1]["content"]
        return WRONG if breaks_controls and "ctl_" in asked else RIGHT
    return answer


async def run(deps, controls=CONTROLS):
    test_id = (await handlers.create_shadow_test(create(controls), context(), deps)).test.id
    for trace_id in ISSUE_TRACES:
        await replay(deps, test_id, trace_id)
    return test_id


async def test_controls_are_queued_beside_the_issue_traces_and_the_test_completes_only_when_they_are_done():
    deps = build(traces=TRACES)
    test_id = await run(deps)
    queued = [e.payload["traceId"] for e in deps.tests.outbox[test_id] if e.type == "replay.requested"]
    assert queued == ISSUE_TRACES + CONTROLS
    assert deps.tests.stored[test_id].status == "running", "six controls still to replay"
    for trace_id in CONTROLS:
        await replay(deps, test_id, trace_id)
    shown = await detail(deps, test_id)
    assert shown.status == "completed" and shown.trace_count == 6
    assert (shown.results.improved, shown.results.unchanged, shown.results.regressed) == (6, 0, 0)
    assert [r.trace_id for r in shown.trace_results] == ISSUE_TRACES
    assert [r.trace_id for r in shown.control_trace_results] == CONTROLS
    control = shown.results.control
    assert (control.improved, control.unchanged, control.regressed, control.errored) == (0, 6, 0, 0)
    assert control.significance.p_value == 1.0


async def test_a_fix_that_mends_six_of_six_is_ship_with_figures_scipy_agrees_with():
    deps = build(traces=TRACES, replay=None)
    deps.models.replay.answer = fixed_answer(breaks_controls=False)
    test_id = await run(deps)
    for trace_id in CONTROLS:
        await replay(deps, test_id, trace_id)
    results = (await detail(deps, test_id)).results
    significance = results.significance
    assert significance.method == "sign_test"
    assert significance.p_value == pytest.approx(0.03125) == stats.binomtest(6, 6, 0.5).pvalue
    wilson = stats.binomtest(6, 6).proportion_ci(confidence_level=0.95, method="wilson")
    assert significance.improvement_rate_ci95 == pytest.approx((wilson.low, wilson.high), abs=1e-4)
    changes = [r.fixed_score - r.original_score for r in (await detail(deps, test_id)).trace_results]
    assert significance.mean_score_change == pytest.approx(sum(changes) / 6, abs=1e-4)
    assert results.recommendation == "ship" and results.minimum_traces is None
    assert "6 improved and 0 regressed of 6 scored" in results.recommendation_reason
    events = deps.tests.outbox[test_id]
    completed = next(e for e in events if e.type == "shadow_test.completed")
    assert completed.payload["test"]["results"]["recommendation"] == "ship"


async def test_a_fix_that_also_breaks_the_controls_is_rejected_and_the_controls_show_the_regressions():
    deps = build(traces=TRACES)
    deps.models.replay.answer = fixed_answer(breaks_controls=True)
    test_id = await run(deps)
    for trace_id in CONTROLS:
        await replay(deps, test_id, trace_id)
    shown = await detail(deps, test_id)
    assert (shown.results.improved, shown.results.regressed) == (6, 0), "the issue's counts leave controls out"
    assert (shown.results.control.regressed, shown.results.control.significance.p_value) == (6, 0.03125)
    assert shown.results.recommendation == "reject"
    assert shown.results.recommendation_reason.startswith("the controls regressed significantly")


async def test_without_controls_too_few_traces_are_inconclusive_with_the_size_that_would_decide():
    deps = build(traces=TRACES)
    test_id = (await handlers.create_shadow_test(create([], ISSUE_TRACES[:3]), context(), deps)).test.id
    for trace_id in ISSUE_TRACES[:3]:
        await replay(deps, test_id, trace_id)
    results = (await detail(deps, test_id)).results
    assert (results.recommendation, results.minimum_traces, results.control) == ("inconclusive", 6, None)
    assert results.significance.p_value == 0.25


async def test_unknown_control_traces_are_named_by_their_place_and_nothing_is_stored():
    deps = build(traces=TRACES)
    with pytest.raises(NotFound, match="Traces not found: ctl_x") as refused:
        await handlers.create_shadow_test(create(["ctl_0", "ctl_x"]), context(), deps)
    assert [d.field for d in refused.value.details] == ["config.controlTraceIds.1"]
    assert deps.tests.stored == {}


async def test_a_control_that_is_also_an_issue_trace_is_refused_naming_its_place_and_nothing_is_stored():
    deps = build(traces=TRACES)
    with pytest.raises(InvalidRequest, match="config.controlTraceIds must not repeat traceIds: tr_1") as refused:
        await handlers.create_shadow_test(create(["ctl_0", "tr_1"]), context(), deps)
    assert [(d.field, d.message) for d in refused.value.details] == [
        ("config.controlTraceIds.1", "trace tr_1 is also in traceIds")]
    assert deps.tests.stored == {}


@pytest.mark.parametrize("controls, message", [
    (["ctl_0", "ctl_0"], "each trace at most once; repeated: ctl_0"),
    ([f"ctl_{n}" for n in range(1001)], "at most 1000 items"),
])
def test_controls_that_repeat_themselves_or_are_too_many_are_refused(controls, message):
    with pytest.raises(ValidationError, match=message):
        create(controls)
