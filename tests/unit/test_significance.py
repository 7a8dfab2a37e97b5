import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from services.shadow_runner.domain.significance import (
    ALPHA,
    BOOTSTRAP_SEED,
    Sample,
    improvement_rate_ci,
    mean_change_ci,
    minimum_traces,
    sign_test,
    significance,
    statistics,
)
from shared.contracts.shadow_tests import ShadowStatistics, TraceResult


def results(improved=0, unchanged=0, regressed=0, errored=0, step=0.5) -> list[TraceResult]:
    def result(index: int, verdict: str, original: float | None, fixed: float | None) -> TraceResult:
        return TraceResult(
            trace_id=f"tr_{verdict}_{index}", verdict=verdict, original_score=original, fixed_score=fixed,
            explanation="", scoring="automated", original_output="a", fixed_output="b", latency_ms=1,
        )

    return (
        [result(i, "improved", 0.4, 0.4 + step) for i in range(improved)]
        + [result(i, "unchanged", 0.7, 0.7) for i in range(unchanged)]
        + [result(i, "regressed", 0.9, 0.9 - step) for i in range(regressed)]
        + [result(i, "errored", None, None) for i in range(errored)]
    )


def test_six_improved_of_six_discordant_gives_the_exact_two_sided_p_value():
    assert sign_test(6, 0) == 0.03125 == stats.binomtest(6, 6, 0.5).pvalue
    assert sign_test(0, 6) == 0.03125
    assert significance(Sample.of(results(improved=6, unchanged=4))).p_value == 0.03125


@pytest.mark.parametrize("improved, regressed", [(1, 0), (5, 0), (8, 2), (3, 7), (40, 25), (12, 12), (0, 9)])
def test_the_sign_test_is_scipys_binomial_test_over_the_traces_that_moved(improved, regressed):
    assert sign_test(improved, regressed) == pytest.approx(stats.binomtest(improved, improved + regressed).pvalue)


def test_with_no_trace_moved_the_p_value_is_one():
    assert sign_test(0, 0) == 1.0
    assert significance(Sample.of(results(unchanged=5))).p_value == 1.0


@pytest.mark.parametrize("improved, scored, low, high", [
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Statistics in Medicine 17:857, table II
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (6, 6, 0.6097, 1.0),
])
def test_the_improvement_rate_interval_is_wilsons(improved, scored, low, high):
    assert improvement_rate_ci(improved, scored) == (low, high)
    p, z = improved / scored, stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * scored)) / (1 + z * z / scored)
    half = z / (1 + z * z / scored) * math.sqrt(p * (1 - p) / scored + z * z / (4 * scored * scored))
    assert (low, high) == (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def test_the_improvement_rate_interval_is_over_every_scored_trace_and_brackets_the_rate():
    sample = Sample.of(results(improved=5, unchanged=10, regressed=1, errored=3))
    low, high = significance(sample).improvement_rate_ci95
    assert low < sample.improvement_rate == round(5 / 16, 4) < high
    assert (low, high) == improvement_rate_ci(5, 16)


def test_the_mean_change_interval_is_scipys_paired_bootstrap_and_the_same_every_time():
    generator = np.random.default_rng(3)
    fixed, original = generator.uniform(0, 1, 40), generator.uniform(0, 1, 40)
    changes = tuple(float(change) for change in np.sort(fixed - original))
    paired = stats.bootstrap(
        (fixed[np.argsort(fixed - original)], original[np.argsort(fixed - original)]),
        lambda f, o, axis=-1: np.mean(f - o, axis=axis), paired=True, batch=500,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    ).confidence_interval
    assert mean_change_ci(changes) == (round(paired.low, 4), round(paired.high, 4))
    assert mean_change_ci(changes) == mean_change_ci(changes)
    shuffled = list(changes)
    random.Random(5).shuffle(shuffled)
    assert mean_change_ci(tuple(shuffled)) == mean_change_ci(changes)
    low, high = mean_change_ci(changes)
    assert low < np.mean(changes) < high


def test_mean_change_interval_is_undefined_from_one_change_and_a_point_when_all_agree():
    assert mean_change_ci(()) is None
    assert mean_change_ci((0.3,)) is None
    assert mean_change_ci((0.25, 0.25, 0.25)) == (0.25, 0.25)


def test_one_trace_has_a_rate_interval_but_no_bootstrap_interval():
    tested = significance(Sample.of(results(improved=1)))
    assert tested.p_value == 1.0
    assert tested.improvement_rate_ci95 == (0.2065, 1.0)
    assert tested.mean_score_change == 0.5
    assert tested.mean_score_change_ci95 is None


def test_all_errored_leaves_every_figure_undefined_and_decides_nothing():
    outcome = statistics(Sample.of(results(errored=4)))
    assert outcome.significance.model_dump() == {
        "method": "sign_test", "p_value": 1.0, "improvement_rate_ci95": None, "mean_score_change": None,
        "mean_score_change_ci95": None,
    }
    assert (outcome.recommendation, outcome.minimum_traces) == ("inconclusive", None)
    assert "no trace was scored" in outcome.recommendation_reason


def test_errored_traces_give_no_score_change():
    sample = Sample.of(results(improved=2, regressed=1, errored=2, step=0.3))
    assert (sample.improved, sample.regressed, sample.errored, sample.scored) == (2, 1, 2, 3)
    assert sorted(sample.changes) == pytest.approx([-0.3, 0.3, 0.3])


def test_a_clear_improvement_ships():
    outcome = statistics(Sample.of(results(improved=10, unchanged=5, regressed=1)))
    assert outcome.significance.p_value == pytest.approx(stats.binomtest(10, 11).pvalue)
    assert (outcome.recommendation, outcome.minimum_traces, outcome.control) == ("ship", None, None)
    assert "no controls replayed" in outcome.recommendation_reason


def test_a_clear_regression_is_rejected():
    outcome = statistics(Sample.of(results(improved=1, unchanged=3, regressed=11)))
    assert outcome.recommendation == "reject"
    assert outcome.significance.mean_score_change < 0


def test_an_undecided_test_says_how_many_traces_would_decide():
    outcome = statistics(Sample.of(results(improved=4, unchanged=5, regressed=1)))
    assert outcome.significance.p_value == pytest.approx(0.375)
    assert outcome.recommendation == "inconclusive"
    # 23 traces: 9 improved, 2 regressed, p = 2 * 67 / 2048 = 0.065; 24: 10 and 2, p = 2 * 79 / 4096 = 0.039
    assert outcome.minimum_traces == 24
    assert "a test of 24 traces would decide" in outcome.recommendation_reason


def deciding_by_brute_force(sample: Sample) -> int | None:
    for n in range(sample.replayed + 1, 5000):
        improved = math.floor(n * sample.improved / sample.replayed + 0.5)
        regressed = math.floor(n * sample.regressed / sample.replayed + 0.5)
        if improved + regressed and stats.binomtest(improved, improved + regressed).pvalue < ALPHA:
            return n
    return None


@pytest.mark.parametrize("sample", [
    Sample(4, 5, 1), Sample(1), Sample(0, 3, 2), Sample(3, 5, 1, 1), Sample(7, 0, 4), Sample(2, 30, 1, 4),
    Sample(20, 10, 12),
])
def test_minimum_traces_is_the_smallest_test_whose_exact_sign_test_decides_at_the_proportions_seen(sample):
    assert minimum_traces(sample) == deciding_by_brute_force(sample)


def test_no_number_of_traces_decides_when_the_two_sides_are_even_or_nothing_moved():
    assert minimum_traces(Sample(4, 2, 4)) is None
    assert minimum_traces(Sample(0, 9, 0)) is None
    assert minimum_traces(Sample(errored=3)) is None
    outcome = statistics(Sample(4, 2, 4, changes=(0.5,) * 4 + (-0.5,) * 4))
    assert (outcome.recommendation, outcome.minimum_traces) == ("inconclusive", None)
    assert "no number of traces would decide" in outcome.recommendation_reason


def test_a_significant_regression_on_the_controls_vetoes_a_fix_that_mends_the_issue():
    outcome = statistics(Sample.of(results(improved=10)), Sample.of(results(unchanged=13, regressed=7)))
    assert outcome.significance.p_value < ALPHA
    assert outcome.recommendation == "reject"
    assert outcome.control.regressed == 7 and outcome.control.significance.p_value == stats.binomtest(0, 7).pvalue
    assert outcome.recommendation_reason.startswith("the controls regressed significantly")


def test_controls_that_hold_or_regress_insignificantly_let_the_fix_ship_and_are_reported_apart():
    held = statistics(Sample.of(results(improved=10)), Sample.of(results(unchanged=20)))
    assert held.recommendation == "ship"
    assert (held.control.improved, held.control.unchanged, held.control.regressed) == (0, 20, 0)
    assert held.control.significance.p_value == 1.0 and held.control.improvement_rate == 0.0
    slipped = statistics(Sample.of(results(improved=10)), Sample.of(results(unchanged=18, regressed=2)))
    assert slipped.recommendation == "ship"
    assert "controls: 0 improved and 2 regressed of 20 scored" in slipped.recommendation_reason


def test_controls_improving_significantly_do_not_veto():
    outcome = statistics(Sample.of(results(improved=10)), Sample.of(results(improved=8)))
    assert outcome.recommendation == "ship"


def test_the_statistics_travel_as_the_documented_camel_case_shape():
    outcome = statistics(Sample.of(results(improved=6, unchanged=4)), Sample.of(results(unchanged=3, errored=1)))
    wire = outcome.to_wire()
    assert set(wire) == {"significance", "recommendation", "recommendationReason", "minimumTraces", "control"}
    assert set(wire["significance"]) == {
        "method", "pValue", "improvementRateCi95", "meanScoreChange", "meanScoreChangeCi95"}
    assert wire["significance"]["method"] == "sign_test" and wire["significance"]["pValue"] == 0.03125
    assert wire["control"]["errored"] == 1 and "significance" in wire["control"]
    assert ShadowStatistics.model_validate(wire) == outcome


def test_the_example_in_the_docs_is_what_the_module_computes():
    document = (Path(__file__).resolve().parents[2] / "docs" / "statistics.md").read_text()
    example = json.loads(re.search(r"ShadowStatistics -->\n```json\n(.*?)```", document, re.S).group(1))
    issue = Sample(9, 8, 2, 1, (0.5, 0.6, 0.45, 0.5, 0.55, 0.9, 0.3, 0.5, 0.6) + (0.0,) * 8 + (-0.5, -0.2))
    control = Sample(1, 23, 1, 0, (0.1,) + (0.0,) * 23 + (-0.4,))
    assert statistics(issue, control).to_wire() == example
