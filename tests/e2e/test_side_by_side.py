"""side_by_side through HTTP: a real shadow test judged in both orders by the demo judge, fair,
favouring the first answer by 0.3, or so biased that its preference follows the order."""

import pytest

from deploy.local.demo_model import JUDGE_MODEL, RIGHT
from tests.e2e.test_shadow_tests import a_trace, finished, marker, setup, start_test

pytestmark = pytest.mark.e2e


def ten_traces(m: str) -> list[dict]:
    """8 the grounding fix mends, 1 it leaves right, 1 (about warranty) it breaks."""
    traces = [a_trace(m, n) for n in range(8)]
    traces.append(a_trace(m, 8, recorded=RIGHT))
    traces.append(a_trace(m, 9, question="Is my blender under warranty?", recorded="The warranty lasts 12 months."))
    return traces


async def judged(api, traces: list[dict]) -> dict:
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    assert test["status"] == "completed"
    return test


def verdicts(test: dict) -> dict[str, str]:
    return {r["traceId"].rsplit("_", 1)[1]: r["verdict"] for r in test["traceResults"]}


async def test_a_judge_favouring_the_first_answer_by_0_3_reaches_the_fair_judges_verdicts(api, fake_model):
    fair_marker, biased_marker = marker(), marker()
    fake_model.bias_judge(biased_marker, 0.3)
    fair = await judged(api, ten_traces(fair_marker))
    biased = await judged(api, ten_traces(biased_marker))

    assert verdicts(biased) == verdicts(fair)
    assert [biased["results"][k] for k in ("improved", "unchanged", "regressed")] == [8, 1, 1]
    assert all(r["judgeAgreement"]["agreed"] for r in fair["traceResults"])
    by_trace = {r["traceId"]: r for r in biased["traceResults"]}
    mended = by_trace[f"tr_{biased_marker}_0"]
    assert mended["judgeAgreement"] == {
        "agreed": True,
        "originalFirst": {"originalScore": 0.5, "fixedScore": 0.9, "verdict": "improved"},
        "fixedFirst": {"originalScore": 0.2, "fixedScore": 1.0, "verdict": "improved"},
    }
    assert (mended["originalScore"], mended["fixedScore"]) == (0.35, 0.95)
    left_right = by_trace[f"tr_{biased_marker}_8"]
    assert left_right["verdict"] == "unchanged" and left_right["judgeAgreement"]["agreed"] is False

    judge_calls = [c for c in fake_model.calls_about(f"[{biased_marker}]") if c["model"] == JUDGE_MODEL]
    assert len(judge_calls) == 20, "two judge calls per trace"
    assert all(c["response_format"]["json_schema"]["strict"] is True for c in judge_calls)


async def test_a_judge_whose_preference_follows_the_order_gives_unchanged_and_the_result_says_so(api, fake_model):
    m = marker()
    fake_model.bias_judge(m, 0.9)
    test = await judged(api, [a_trace(m, 0)])

    [result] = test["traceResults"]
    assert result["verdict"] == "unchanged" and test["results"]["unchanged"] == 1
    assert result["judgeAgreement"] == {
        "agreed": False,
        "originalFirst": {"originalScore": 1.0, "fixedScore": 0.9, "verdict": "regressed"},
        "fixedFirst": {"originalScore": 0.2, "fixedScore": 1.0, "verdict": "improved"},
    }
    assert "The orders disagree on which answer is better, so the verdict is unchanged." in result["explanation"]


async def test_automated_results_carry_no_judge_agreement(api):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces, mode="automated"))["id"])
    assert test["traceResults"][0]["judgeAgreement"] is None
