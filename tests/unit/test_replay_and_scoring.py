import time
from datetime import UTC, datetime

import pytest

from services.shadow_runner.domain.replay import (
    ReplayError,
    apply_guardrail,
    apply_prompt_update,
    apply_retrieval_update,
    replay_request,
)
from services.shadow_runner.domain.results import guardrail_of
from services.shadow_runner.domain.scoring import (
    MalformedJudgement,
    automated_score,
    parse_judgement,
    reference_score,
    verdict,
)
from shared.contracts.fixes import FixView, Guardrail, PromptUpdate, RetrievalUpdate
from shared.contracts.traces import ContextDocument, Trace

PROMPT = "You are a support agent.\nAnswer refund questions using the knowledge base.\nBe brief."


def trace(**fields) -> Trace:
    return Trace.model_validate({
        "id": "tr_1", "agentId": "a", "model": {"name": "gpt-4o", "parameters": {"temperature": 0.7, "user": "x"}},
        "systemPrompt": PROMPT, "input": [{"role": "user", "content": "Refund after 45 days?"}],
        "context": [{"id": "old", "content": "Returns within 60 days."}], "output": "60 days",
        "ingestedAt": datetime.now(UTC), **fields,
    }, by_name=False)


def test_a_diff_replaces_its_minus_lines_with_its_plus_lines_in_place():
    diff = "- Answer refund questions using the knowledge base.\n+ Answer refund questions. Check the policy date."
    patched = apply_prompt_update(PROMPT, PromptUpdate(prompt_diff=diff))
    assert patched == "You are a support agent.\nAnswer refund questions. Check the policy date.\nBe brief."


def test_a_diff_with_only_plus_lines_appends_them():
    assert apply_prompt_update("Base.", PromptUpdate(prompt_diff="+ Also this.")) == "Base.\nAlso this."


def test_a_diff_removing_text_the_prompt_lacks_is_a_clear_error():
    with pytest.raises(ReplayError, match="not in this trace's system prompt: 'Never said this.'"):
        apply_prompt_update(PROMPT, PromptUpdate(prompt_diff="- Never said this.\n+ New."))


def test_a_whole_system_prompt_replaces_the_old_one():
    assert apply_prompt_update(PROMPT, PromptUpdate(system_prompt="New prompt.")) == "New prompt."


def test_the_request_carries_prompt_context_messages_and_known_parameters():
    request = replay_request(trace(), "prompt_update", {"promptDiff": "+ Cite dates."}, None)
    assert request.model == "gpt-4o"
    assert request.parameters == {"temperature": 0.7}
    system, user = request.messages
    assert system["role"] == "system" and system["content"].startswith(PROMPT + "\nCite dates.")
    assert "Context:\n[old] Returns within 60 days." in system["content"]
    assert user == {"role": "user", "content": "Refund after 45 days?"}


def test_without_a_system_prompt_the_first_system_message_is_patched():
    recorded = trace(systemPrompt=None, input=[{"role": "system", "content": "Be kind."},
                                                {"role": "user", "content": "Hi"}], context=[])
    request = replay_request(recorded, "prompt_update", {"promptDiff": "- Be kind.\n+ Be exact."}, None)
    assert request.messages == [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "Hi"}]


def test_a_config_change_overrides_model_and_parameters_and_beats_the_operator_model():
    request = replay_request(trace(), "config_change", {"model": "gpt-4o-mini", "temperature": 0, "maxTokens": 64},
                             "operator-model")
    assert request.model == "gpt-4o-mini"
    assert request.parameters == {"temperature": 0, "max_tokens": 64}
    assert replay_request(trace(), "guardrail", {"rule": "max_length", "maxLength": 5, "fallback": "x"},
                          "operator-model").model == "operator-model"


def test_a_retrieval_update_adds_removes_and_replaces_documents():
    context = [ContextDocument(id="a", content="A"), ContextDocument(id="b", content="B")]
    update = RetrievalUpdate(add=[ContextDocument(id="c", content="C")], remove=["a"],
                             replace=[ContextDocument(id="b", content="B2")])
    assert [(d.id, d.content) for d in apply_retrieval_update(context, update)] == [("b", "B2"), ("c", "C")]


@pytest.mark.parametrize("rule, answer, triggered", [
    ({"rule": "block_pattern", "pattern": "60 days"}, "We allow 60 days.", True),
    ({"rule": "block_pattern", "pattern": "60 DAYS", "ignoreCase": True}, "We allow 60 days.", True),
    ({"rule": "block_pattern", "pattern": "60 days"}, "We allow 30 days.", False),
    ({"rule": "require_pattern", "pattern": r"\d+ days"}, "Soon.", True),
    ({"rule": "max_length", "maxLength": 5}, "Too long an answer", True),
])
def test_guardrails_replace_a_triggering_answer_with_the_fallback(rule, answer, triggered):
    guardrail = Guardrail.model_validate({**rule, "fallback": "Let me check."}, by_name=False)
    assert apply_guardrail(answer, guardrail) == (("Let me check.", True) if triggered else (answer, False))


def test_the_reference_score_rewards_the_right_facts_not_shared_words():
    expected = "No. Returns are accepted within 30 days of purchase."
    wrong_fact = reference_score("Yes. Returns are accepted within 60 days of purchase.", expected)
    right_fact = reference_score("Our policy: returns within 30 days of purchase, so no.", expected)
    assert right_fact > 0.8 > 0.5 > wrong_fact
    assert reference_score(expected, expected) == 1.0
    assert 0 <= reference_score("", expected) <= 1


def test_automated_scoring_averages_what_applies_and_says_so():
    guardrail = Guardrail(rule="block_pattern", pattern="60 days", fallback="Let me check.")
    score = automated_score("Within 60 days.", "Let me check.", None, guardrail)
    assert (score.original, score.fixed) == (0.0, 1.0)
    assert "guardrail block_pattern: original breaks it, fixed keeps it" in score.explanation
    assert automated_score("a", "b", None, None) is None


@pytest.mark.parametrize("original, fixed, expected", [
    (0.35, 0.88, "improved"), (0.6, 0.45, "regressed"), (0.5, 0.54, "unchanged"), (0.5, 0.46, "unchanged"),
])
def test_verdict_needs_more_than_the_margin(original, fixed, expected):
    assert verdict(original, fixed, 0.05) == expected


def test_judgements_are_parsed_from_json_even_when_fenced_and_checked():
    assert parse_judgement('```json\n{"scoreA": 0.2, "scoreB": 0.9, "explanation": "B cites 30 days"}\n```') == (
        0.2, 0.9, "B cites 30 days")
    for bad in ("no json here", '{"scoreA": 2, "scoreB": 0.1, "explanation": "x"}',
                '{"scoreA": 0.1, "explanation": "x"}', '{"scoreA": 0.1, "scoreB": 0.2, "explanation": ""}'):
        with pytest.raises(MalformedJudgement):
            parse_judgement(bad)


def test_a_diff_matches_whole_lines_only():
    prompt = "Never mention competitors by name.\nBe brief."
    with pytest.raises(ReplayError, match="not in this trace's system prompt"):
        apply_prompt_update(prompt, PromptUpdate(prompt_diff="- mention competitors by name.\n+ Compare fairly."))


def test_each_hunk_is_replaced_in_place():
    diff = "- Rule A.\n+ Rule A2.\n- Rule C.\n+ Rule C2."
    assert apply_prompt_update("Rule A.\nRule B.\nRule C.", PromptUpdate(prompt_diff=diff)) == \
        "Rule A2.\nRule B.\nRule C2."


def test_a_diff_line_found_twice_is_refused():
    with pytest.raises(ReplayError, match="more than once"):
        apply_prompt_update("Be kind.\nBe kind.", PromptUpdate(prompt_diff="- Be kind.\n+ Be exact."))


def test_the_system_prompt_is_sent_once_when_the_messages_repeat_it():
    recorded = trace(input=[{"role": "system", "content": PROMPT}, {"role": "user", "content": "Hi"}], context=[])
    request = replay_request(recorded, "prompt_update", {"systemPrompt": "New."}, None)
    assert request.messages == [{"role": "system", "content": "New."}, {"role": "user", "content": "Hi"}]


def test_negations_count_as_facts_and_the_margin_is_strict():
    expected = "Everything is refundable after 30 days."
    assert reference_score("Nothing is refundable after 30 days.", expected) < 0.75
    assert [verdict(a, a + 0.05, 0.05) for a in (0.5, 0.6, 0.7)] == ["unchanged"] * 3


def test_a_catastrophic_pattern_is_matched_in_linear_time():
    """`^(a+)+$` backtracks exponentially in Python's `re` (about a minute on 30 characters
    here, doubling with each one); RE2 never backtracks."""
    guardrail = Guardrail(rule="block_pattern", pattern="^(a+)+$", fallback="Let me check.")
    started = time.monotonic()
    assert apply_guardrail("a" * 40 + "!", guardrail) == ("a" * 40 + "!", False)
    assert apply_guardrail("a" * 200_000, guardrail) == ("Let me check.", True)
    assert time.monotonic() - started < 1.0


def test_a_stored_guardrail_re2_cannot_compile_cannot_be_applied():
    now = datetime.now(UTC)
    fix = FixView(id="fix_1", issue_id=None, type="guardrail", status="draft", description="d", author="a",
                  changes={"rule": "block_pattern", "pattern": r"(\w+) \1", "fallback": "x"},
                  created_at=now, updated_at=now)
    with pytest.raises(ReplayError) as refused:
        guardrail_of(fix)
    assert "the guardrail cannot be applied" in str(refused.value) and "RE2 syntax" in str(refused.value)
