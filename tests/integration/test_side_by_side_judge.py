"""side_by_side against a judge over real HTTP (the local demo model as judge, fair, biased to
the first answer, or without structured output): the verdicts a pair gets, the calls it costs."""

import uuid
from datetime import UTC, datetime

import aiohttp
import pytest

from deploy.local.demo_model import JUDGE_MODEL, REFUSAL, RIGHT, WRONG, DemoModel, Fault, _grade
from services.shadow_runner import bootstrap, handlers
from services.shadow_runner.adapters.chat_model import ChatModel
from services.shadow_runner.domain.judging import judge_request
from services.shadow_runner.domain.scoring import verdict
from services.shadow_runner.ports import ModelError, ParameterRefused
from shared.contracts.fixes import FixDetail
from shared.contracts.shadow_tests import ExecuteShadow
from shared.contracts.traces import Trace
from shared.messaging.commands import CommandContext
from tests.unit.fakes import RecordingNotifier
from tests.unit.runner_fakes import FakeNeighbours, FakeShadowTests, RecordingMetrics, ScriptedModel, an_issue

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
MARGIN = 0.05
WARRANTY = "The warranty lasts 12 months."
PAIRS = [(WRONG, RIGHT), (RIGHT, WRONG), (RIGHT, RIGHT), (WARRANTY, REFUSAL), (REFUSAL, WARRANTY), (WRONG, WRONG)]
"""(recorded, replayed) answers; the demo judge scores 30 days 0.9, 60 days 0.2, a refusal 0.05,
anything else 0.5, so each pair's gap is 0 or wider than a 0.3 bias and the margin."""


def a_trace(trace_id: str, recorded: str, marker: str) -> Trace:
    question = f"A refund after 45 days? [{marker}] ({trace_id})"
    return Trace.model_validate({"id": trace_id, "agentId": "agent_a", "model": {"name": "m"}, "systemPrompt": "p",
                                 "input": [{"role": "user", "content": question}],
                                 "output": recorded, "timestamp": NOW, "ingestedAt": NOW}, by_name=False)


FIX = FixDetail(id="fix_1", issue_id="iss_1", type="prompt_update", status="testing", description="d",
                changes={"systemPrompt": "p2"}, author="a", created_at=NOW, updated_at=NOW, shadow_tests=[])


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as session:
        yield session


def judge_of(session, model: DemoModel) -> ChatModel:
    return ChatModel(session, model.url, None, timeout=5.0, max_attempts=2, concurrency=4, label="judge")


async def judged(judge: ChatModel, pairs, marker: str) -> list:
    """Each pair replayed (the replay model answers the pair's second answer) and judged."""
    traces = [a_trace(f"tr_{n}", recorded, marker) for n, (recorded, _) in enumerate(pairs)]
    fixed_of = {f"({trace.id})": fixed for trace, (_, fixed) in zip(traces, pairs, strict=True)}

    def replay(request) -> str:
        return next(fixed for key, fixed in fixed_of.items() if key in request.messages[-1]["content"])

    models = handlers.Models(replay=ScriptedModel(replay), judge=judge, judge_model_name=JUDGE_MODEL,
                             model_override=None, margin=MARGIN)
    neighbours = FakeNeighbours(fixes=[FIX], traces=traces, issues=[an_issue("iss_1", "Old refund window", "60")])
    deps = bootstrap.build(FakeShadowTests(), neighbours, models, RecordingNotifier(), metrics=RecordingMetrics(),
                           clock=lambda: NOW)
    ctx = CommandContext(command_id="c", workspace="ws", actor="key_1", correlation_id="corr-judge")
    commands = [ExecuteShadow(fix_id="fix_1", trace_id=trace.id, config={"comparison_mode": "side_by_side"})
                for trace in traces]
    return [await handlers.execute_shadow(command, ctx, deps) for command in commands]


def todays(pairs) -> list[str]:
    """The verdicts of one asking of the fair judge, in either order (it scores each answer alike)."""
    return [verdict(_grade(recorded), _grade(fixed), MARGIN) for recorded, fixed in pairs]


def marker() -> str:
    return uuid.uuid4().hex[:10]


async def test_a_fair_judge_gives_todays_verdicts_and_scores_at_two_calls_a_pair(session, fake_model):
    m = marker()
    results = await judged(judge_of(session, fake_model), PAIRS, m)
    assert [r.verdict for r in results] == todays(PAIRS) == [
        "improved", "regressed", "unchanged", "regressed", "improved", "unchanged"]
    assert [(r.original_score, r.fixed_score) for r in results] == [(_grade(o), _grade(f)) for o, f in PAIRS]
    assert all(r.judge_agreement.agreed for r in results)
    calls = fake_model.calls_about(f"[{m}]")
    judge_calls = [call for call in calls if call["model"] == JUDGE_MODEL]
    assert len(judge_calls) == 2 * len(PAIRS)
    assert all(call["response_format"]["type"] == "json_schema" for call in judge_calls)


async def test_a_judge_adding_0_3_to_the_first_answer_does_not_move_a_verdict(session, fake_model):
    m = marker()
    fake_model.bias_judge(m, 0.3)
    results = await judged(judge_of(session, fake_model), PAIRS, m)
    assert [r.verdict for r in results] == todays(PAIRS)
    first_shown = [call["messages"][1]["content"] for call in fake_model.calls_about(f"[{m}]")
                   if call["model"] == JUDGE_MODEL]
    assert any(f"Answer A:\n{RIGHT}" in text for text in first_shown)
    assert any(f"Answer A:\n{WRONG}" in text for text in first_shown)
    improved = results[0].judge_agreement
    assert (improved.original_first.original_score, improved.original_first.fixed_score) == (0.5, 0.9)
    assert (improved.fixed_first.original_score, improved.fixed_first.fixed_score) == (0.2, 1.0)
    alike = results[2]
    assert alike.verdict == "unchanged" and not alike.judge_agreement.agreed


async def test_a_judge_whose_bias_outweighs_the_answers_is_called_unchanged_and_says_so(session, fake_model):
    m = marker()
    fake_model.bias_judge(m, 0.9)
    [result] = await judged(judge_of(session, fake_model), [(WRONG, RIGHT)], m)
    assert result.verdict == "unchanged"
    agreement = result.judge_agreement.to_wire()
    assert agreement == {"agreed": False,
                         "originalFirst": {"originalScore": 1.0, "fixedScore": 0.9, "verdict": "regressed"},
                         "fixedFirst": {"originalScore": 0.2, "fixedScore": 1.0, "verdict": "improved"}}
    assert "Original shown first: original 1.00, fixed 0.90 (regressed)" in result.explanation
    assert "Fixed shown first: original 0.20, fixed 1.00 (improved)" in result.explanation
    assert result.explanation.endswith("The orders disagree on which answer is better, so the verdict is unchanged.")


async def test_an_endpoint_without_structured_output_is_judged_from_json_in_words_and_not_asked_again(session):
    with DemoModel(refuses_response_format=True) as plain_endpoint:
        m = marker()
        judge = judge_of(session, plain_endpoint)
        results = await judged(judge, PAIRS, m)
        assert [r.verdict for r in results] == todays(PAIRS)
        assert not judge.accepts("response_format")
        calls = [call for call in plain_endpoint.calls if call["model"] == JUDGE_MODEL]
        structured = [n for n, call in enumerate(calls) if "response_format" in call]
        assert len(structured) <= 2 and max(structured) < 4, "refused once per endpoint, not per call"
        assert len(calls) == 2 * len(PAIRS) + len(structured)
        again = judge_of(session, plain_endpoint)
        assert not again.accepts("response_format"), "remembered for the endpoint, whichever client asks"


async def test_a_judge_reply_not_of_the_asked_shape_errs_the_trace_and_says_why(session, fake_model):
    m = marker()
    fake_model.fail(f"[{m}]", *[Fault(body='{"choices": [{"message": {"content": "{\\"scoreA\\": 7}"}}]}')] * 6)
    [result] = await judged(judge_of(session, fake_model), [(WRONG, RIGHT)], m)
    assert result.verdict == "errored" and result.judge_agreement is None
    assert result.explanation.startswith("Could not score: the judge's reply is not the JSON asked for")


async def test_only_a_refusal_of_response_format_is_taken_as_one(session, fake_model):
    judge = judge_of(session, fake_model)
    m = marker()
    request = judge_request(JUDGE_MODEL, a_trace("tr_x", WRONG, m), None, RIGHT, False, structured=True)
    fake_model.fail(f"[{m}]", Fault(status=400, body="unknown model judge-model"))
    with pytest.raises(ModelError) as raised:
        await judge.complete(request)
    assert not isinstance(raised.value, ParameterRefused) and judge.accepts("response_format")
