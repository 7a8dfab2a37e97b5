"""The side-by-side rule: a judge asked in both orders, its scores averaged, its verdict kept only
when both orders agree."""

from datetime import UTC, datetime

import pytest

from services.shadow_runner.domain.judging import JUDGEMENT_FORMAT, Reading, both_orders, judge_request
from services.shadow_runner.domain.results import scored
from services.shadow_runner.domain.scoring import verdict
from shared.contracts.traces import Trace

MARGIN = 0.05
PAIRS = [(0.2, 0.9), (0.9, 0.2), (0.5, 0.05), (0.9, 0.9), (0.5, 0.5), (0.6, 0.62), (0.1, 0.5)]
"""(original, fixed) as a fair judge scores them."""


def asked(original: float, fixed: float, bias_to_first: float = 0.0) -> tuple[Reading, Reading]:
    """What a judge adding `bias_to_first` to the answer it reads first says in each order."""

    def first(score: float) -> float:
        return min(1.0, score + bias_to_first)

    original_first = Reading.of(first(original), fixed, "o-first", fixed_first=False)
    fixed_first = Reading.of(first(fixed), original, "f-first", fixed_first=True)
    return original_first, fixed_first


@pytest.mark.parametrize("original, fixed", PAIRS)
def test_a_fair_judge_gets_the_verdict_and_scores_of_one_asking(original, fixed):
    judged = both_orders(*asked(original, fixed), MARGIN)
    assert (judged.original, judged.fixed) == (original, fixed)
    assert judged.verdict == verdict(original, fixed, MARGIN) and judged.agreed


@pytest.mark.parametrize("original, fixed", [(0.2, 0.9), (0.9, 0.2), (0.5, 0.05), (0.1, 0.5)])
def test_a_judge_favouring_the_first_answer_by_0_3_reaches_the_fair_verdict_where_the_gap_is_wider(original, fixed):
    judged = both_orders(*asked(original, fixed, bias_to_first=0.3), MARGIN)
    assert judged.verdict == verdict(original, fixed, MARGIN) and judged.agreed


@pytest.mark.parametrize("original, fixed", [(0.9, 0.9), (0.5, 0.5), (0.6, 0.62)])
def test_a_biased_judge_on_answers_alike_disagrees_with_itself_and_the_verdict_stays_unchanged(original, fixed):
    judged = both_orders(*asked(original, fixed, bias_to_first=0.3), MARGIN)
    assert judged.verdict == "unchanged" == verdict(original, fixed, MARGIN)
    assert not judged.agreed


def test_a_gap_no_wider_than_the_bias_and_the_margin_is_not_trusted():
    judged = both_orders(*asked(0.1, 0.45, bias_to_first=0.3), MARGIN)
    assert verdict(0.1, 0.45, MARGIN) == "improved"
    assert (judged.verdict, judged.agreed) == ("unchanged", False)


def test_orders_that_disagree_give_unchanged_even_when_the_mean_moves():
    original_first = Reading.of(0.9, 0.4, "A is better", fixed_first=False)
    fixed_first = Reading.of(1.0, 0.3, "A is better", fixed_first=True)
    judged = both_orders(original_first, fixed_first, MARGIN)
    assert (judged.original, judged.fixed) == (0.6, 0.7)
    assert (judged.verdict, judged.agreed) == ("unchanged", False)
    assert judged.explanation == (
        "Judge, asked in both orders (scores are their mean). "
        'Original shown first: original 0.90, fixed 0.40 (regressed); the judge said "A is better". '
        'Fixed shown first: original 0.30, fixed 1.00 (improved); the judge said "A is better". '
        "The orders disagree on which answer is better, so the verdict is unchanged.")


def test_each_reply_is_mapped_back_from_a_and_b_to_original_and_fixed():
    assert Reading.of(0.9, 0.2, "x", fixed_first=True) == Reading(True, original=0.2, fixed=0.9, explanation="x")
    assert Reading.of(0.9, 0.2, "x", fixed_first=False) == Reading(False, original=0.9, fixed=0.2, explanation="x")


NOW = datetime(2025, 8, 15, tzinfo=UTC)
TRACE = Trace.model_validate({"id": "tr_1", "agentId": "a", "model": {"name": "m"}, "timestamp": NOW,
                              "ingestedAt": NOW, "input": [{"role": "user", "content": "A refund?"}],
                              "output": "60 days"}, by_name=False)


def test_a_judged_result_shows_both_orders_and_their_agreement():
    result = scored(TRACE, "30 days", both_orders(*asked(0.2, 0.9, bias_to_first=0.3), MARGIN), "side_by_side",
                    MARGIN, latency_ms=5)
    assert (result.verdict, result.original_score, result.fixed_score) == ("improved", 0.35, 0.95)
    assert result.to_wire()["judgeAgreement"] == {
        "agreed": True,
        "originalFirst": {"originalScore": 0.5, "fixedScore": 0.9, "verdict": "improved"},
        "fixedFirst": {"originalScore": 0.2, "fixedScore": 1.0, "verdict": "improved"},
    }


def test_the_judge_is_asked_for_structured_output_or_for_the_json_in_words():
    structured = judge_request("judge", TRACE, None, "30 days", fixed_first=True, structured=True)
    plain = judge_request("judge", TRACE, None, "30 days", fixed_first=True, structured=False)
    assert structured.parameters == {"temperature": 0, "response_format": JUDGEMENT_FORMAT}
    assert plain.parameters == {"temperature": 0} and plain.messages == structured.messages
    assert "Answer A:\n30 days\n\nAnswer B:\n60 days" in plain.messages[1]["content"]
    assert '{"scoreA": <number>, "scoreB": <number>' in plain.messages[0]["content"]
    schema = JUDGEMENT_FORMAT["json_schema"]
    assert schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    assert schema["schema"]["required"] == ["scoreA", "scoreB", "explanation"]
