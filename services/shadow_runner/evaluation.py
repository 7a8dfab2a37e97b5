"""Replaying one trace against a fix and scoring the recorded answer against the new one."""

import asyncio
import random
import time
from dataclasses import dataclass

import structlog
from pydantic import ValidationError

from services.shadow_runner.adapters.chat_model import ChatModel, ModelError
from services.shadow_runner.domain.model import IssueContext
from services.shadow_runner.domain.replay import (
    ChatRequest,
    ReplayError,
    apply_guardrail,
    customer_messages,
    replay_request,
    user_input,
)
from services.shadow_runner.domain.scoring import (
    MalformedJudgement,
    Score,
    automated_score,
    judge_messages,
    parse_judgement,
    verdict,
)
from shared.contracts.fixes import FixView, Guardrail
from shared.contracts.shadow_tests import ComparisonMode, TraceResult
from shared.contracts.traces import Trace

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Evaluator:
    replay_model: ChatModel | None
    judge: ChatModel | None
    judge_model_name: str
    model_override: str | None
    margin: float
    judge_attempts: int = 3

    def errored(self, trace_id: str, original_output: str, explanation: str, mode: ComparisonMode,
                fixed_output: str | None = None, latency_ms: int = 0) -> TraceResult:
        return TraceResult(trace_id=trace_id, verdict="errored", original_score=None, fixed_score=None,
                           explanation=explanation, scoring=mode, original_output=original_output,
                           fixed_output=fixed_output, latency_ms=latency_ms)

    async def evaluate(
        self, trace: Trace, fix: FixView, issue: IssueContext | None, mode: ComparisonMode, strict: bool = False
    ) -> TraceResult:
        """The trace's result. A fix that does not apply, a model that fails after its retries
        or answers that cannot be scored give an `errored` result that says why (with `strict`,
        a model failure is raised as `ModelError` instead); only a store or broker outage
        escapes as another exception (and the work is retried). Guardrail patterns are matched
        in a worker thread (RE2 releases the GIL), so a long answer never holds the loop."""
        started = time.monotonic()

        def errored(explanation: str, fixed_output: str | None = None) -> TraceResult:
            return self.errored(trace.id, trace.output, explanation, mode, fixed_output, _ms_since(started))

        try:
            guardrail = _guardrail(fix)
            if self.replay_model is None:
                raise ModelError("No replay model is configured (REPLAY_MODEL_BASE_URL)")
            request = replay_request(trace, fix.type, fix.changes, self.model_override)
            answer = (await self.replay_model.complete(request)).text
        except ReplayError as error:
            return errored(str(error))
        except ModelError as error:
            if strict:
                raise
            return errored(str(error))
        if guardrail is not None:
            answer, _ = await asyncio.to_thread(apply_guardrail, answer, guardrail)
        try:
            score, used = await self._score(trace, guardrail, issue, answer, mode)
        except ModelError as error:
            if strict:
                raise
            return errored(f"Could not score: {error}", answer)
        except MalformedJudgement as error:
            return errored(f"Could not score: {error}", answer)
        if score is None:
            return errored("Could not score automatically: the trace has no expectedOutput and the fix is not a "
                           "guardrail; use side_by_side with a judge model", answer)
        return TraceResult(
            trace_id=trace.id,
            verdict=verdict(score.original, score.fixed, self.margin),
            original_score=score.original,
            fixed_score=score.fixed,
            explanation=score.explanation,
            scoring=used,
            original_output=trace.output,
            fixed_output=answer,
            latency_ms=_ms_since(started),
        )

    async def _score(
        self, trace: Trace, guardrail: Guardrail | None, issue: IssueContext | None, answer: str, mode: ComparisonMode
    ) -> tuple[Score | None, ComparisonMode]:
        if mode == "side_by_side" and self.judge is not None:
            return await self._judge(trace, issue, answer), "side_by_side"
        score = await asyncio.to_thread(automated_score, trace.output, answer, trace.expected_output, guardrail,
                                        customer_messages(trace))
        if score is not None and mode == "side_by_side":
            score = Score(score.original, score.fixed, "No judge model is configured, so scored automatically. "
                          + score.explanation)
        return score, "automated"

    async def _judge(self, trace: Trace, issue: IssueContext | None, answer: str) -> Score:
        fixed_first = random.random() < 0.5
        first, second = (answer, trace.output) if fixed_first else (trace.output, answer)
        issue_text = {"title": issue.title, "description": issue.description} if issue else None
        request = ChatRequest(model=self.judge_model_name,
                              messages=judge_messages(issue_text, user_input(trace), first, second),
                              parameters={"temperature": 0})
        problem: MalformedJudgement | None = None
        for attempt in range(1, self.judge_attempts + 1):
            reply = await self.judge.complete(request)
            try:
                score_a, score_b, explanation = parse_judgement(reply.text)
            except MalformedJudgement as error:
                problem = error
                log.info("judge reply malformed; asking again", attempt=attempt, error=str(error))
                continue
            fixed, original = (score_a, score_b) if fixed_first else (score_b, score_a)
            order = "A was the fixed answer, B the original" if fixed_first else "A was the original, B the fixed"
            return Score(original, fixed, f"Judge ({order}): {explanation}")
        raise MalformedJudgement(f"{problem} (after {self.judge_attempts} attempts)")


def _guardrail(fix: FixView) -> Guardrail | None:
    """The fix's guardrail; one stored before its pattern had to be RE2 cannot be applied."""
    if fix.type != "guardrail":
        return None
    try:
        return Guardrail.model_validate(fix.changes)
    except ValidationError as error:
        problems = "; ".join(problem["msg"].removeprefix("Value error, ") for problem in error.errors())
        raise ReplayError(f"the guardrail cannot be applied: {problems}") from None


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
