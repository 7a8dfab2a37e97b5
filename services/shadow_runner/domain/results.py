"""A trace's result: its verdict when both answers could be scored, else `errored` with why.
Pure rules; the handlers call the models and time the work."""

from pydantic import ValidationError

from services.shadow_runner.domain.judging import Judged, Reading
from services.shadow_runner.domain.replay import ReplayError
from services.shadow_runner.domain.scoring import Score, verdict
from shared.contracts.fixes import FixView, Guardrail
from shared.contracts.shadow_tests import ComparisonMode, JudgeAgreement, JudgeOrder, Replay, TraceResult
from shared.contracts.traces import Trace

NOT_SCORABLE = ("Could not score automatically: the trace has no expectedOutput and the fix is not a guardrail; "
                "use side_by_side with a judge model")


def errored(trace_id: str, original_output: str, explanation: str, mode: ComparisonMode,
            fixed_output: str | None = None, latency_ms: int = 0, replay: Replay | None = None) -> TraceResult:
    return TraceResult(trace_id=trace_id, verdict="errored", original_score=None, fixed_score=None,
                       explanation=explanation, scoring=mode, original_output=original_output,
                       fixed_output=fixed_output, latency_ms=latency_ms, replay=replay)


def diverged(trace: Trace, explanation: str, mode: ComparisonMode, latency_ms: int, replay: Replay) -> TraceResult:
    """A replay that called a tool the original run never did: not scored, neither better nor worse."""
    return TraceResult(trace_id=trace.id, verdict="diverged", original_score=None, fixed_score=None,
                       explanation=explanation, scoring=mode, original_output=trace.output, fixed_output=None,
                       latency_ms=latency_ms, replay=replay)


def scored(trace: Trace, answer: str, score: Score, used: ComparisonMode, margin: float,
           latency_ms: int, replay: Replay | None = None) -> TraceResult:
    judged = isinstance(score, Judged)
    return TraceResult(
        trace_id=trace.id,
        verdict=score.verdict if judged else verdict(score.original, score.fixed, margin),
        original_score=score.original,
        fixed_score=score.fixed,
        explanation=score.explanation,
        scoring=used,
        original_output=trace.output,
        fixed_output=answer,
        latency_ms=latency_ms,
        judge_agreement=agreement(score, margin) if judged else None,
        replay=replay,
    )


def agreement(score: Judged, margin: float) -> JudgeAgreement:
    def order(reading: Reading) -> JudgeOrder:
        return JudgeOrder(original_score=reading.original, fixed_score=reading.fixed, verdict=reading.verdict(margin))

    return JudgeAgreement(agreed=score.agreed, original_first=order(score.original_first),
                          fixed_first=order(score.fixed_first))


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
