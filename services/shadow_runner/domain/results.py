"""A trace's result: its verdict when both answers could be scored, else `errored` with why.
Pure rules; the handlers call the models and time the work."""

from pydantic import ValidationError

from services.shadow_runner.domain.replay import ChatRequest, ReplayError, user_input
from services.shadow_runner.domain.scoring import Score, judge_messages, verdict
from shared.contracts.fixes import FixView, Guardrail
from shared.contracts.shadow_tests import ComparisonMode, TraceResult
from shared.contracts.traces import Trace

NOT_SCORABLE = ("Could not score automatically: the trace has no expectedOutput and the fix is not a guardrail; "
                "use side_by_side with a judge model")


def errored(trace_id: str, original_output: str, explanation: str, mode: ComparisonMode,
            fixed_output: str | None = None, latency_ms: int = 0) -> TraceResult:
    return TraceResult(trace_id=trace_id, verdict="errored", original_score=None, fixed_score=None,
                       explanation=explanation, scoring=mode, original_output=original_output,
                       fixed_output=fixed_output, latency_ms=latency_ms)


def scored(trace: Trace, answer: str, score: Score, used: ComparisonMode, margin: float,
           latency_ms: int) -> TraceResult:
    return TraceResult(
        trace_id=trace.id,
        verdict=verdict(score.original, score.fixed, margin),
        original_score=score.original,
        fixed_score=score.fixed,
        explanation=score.explanation,
        scoring=used,
        original_output=trace.output,
        fixed_output=answer,
        latency_ms=latency_ms,
    )


def guardrail_of(fix: FixView) -> Guardrail | None:
    """The fix's guardrail; one stored before its pattern had to be RE2 cannot be applied."""
    if fix.type != "guardrail":
        return None
    try:
        return Guardrail.model_validate(fix.changes)
    except ValidationError as error:
        problems = "; ".join(problem["msg"].removeprefix("Value error, ") for problem in error.errors())
        raise ReplayError(f"the guardrail cannot be applied: {problems}") from None


def without_judge(score: Score) -> Score:
    """An automated score given where a side-by-side judgement was asked for."""
    return Score(score.original, score.fixed, "No judge model is configured, so scored automatically. "
                 + score.explanation)


def judge_request(model: str, trace: Trace, issue: dict | None, answer: str, fixed_first: bool) -> ChatRequest:
    """The judge sees both answers as A and B, the fixed one first when `fixed_first`."""
    first, second = (answer, trace.output) if fixed_first else (trace.output, answer)
    return ChatRequest(model=model, messages=judge_messages(issue, user_input(trace), first, second),
                       parameters={"temperature": 0})


def judged(score_a: float, score_b: float, explanation: str, fixed_first: bool) -> Score:
    fixed, original = (score_a, score_b) if fixed_first else (score_b, score_a)
    order = "A was the fixed answer, B the original" if fixed_first else "A was the original, B the fixed"
    return Score(original, fixed, f"Judge ({order}): {explanation}")
