"""Evaluation results recorded on an agent run's spans, and the feedback they give its trace.

The GenAI semantic conventions record an evaluation as a `gen_ai.evaluation.result` event
parented to the span it judges: `gen_ai.evaluation.name` (required), `.score.value`,
`.score.label`, `.explanation`, and `error.type` when the evaluation itself failed. Over
OTLP traces it arrives as a span event of that name on the judged span, or as a span of its
own carrying those attributes under the judged span (emitters without span events do so).

A trace has one `feedback`: its score is the lowest score among the evaluations of the whole
run (those on the run's root span), else the lowest among all the run's evaluations; one
failing check makes a failing run. The comment lists every evaluation, the chosen one first.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.traces.domain.otlp import SpanRecord

EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
MAX_COMMENT = 10_000
MAX_LISTED = 20
MAX_EXPLANATION = 2_000


@dataclass(frozen=True)
class Evaluation:
    name: str
    score: float | None
    label: str | None
    explanation: str | None
    span_id: str
    of_root: bool
    """It judges the run's root span, so the whole run."""
    time_ns: int

    def line(self) -> str:
        text = self.name + (f" {self.score:g}" if self.score is not None else "")
        text += f" ({self.label})" if self.label else ""
        return text + (f": {self.explanation}" if self.explanation else "")

    def listed(self) -> dict:
        facts = {"name": self.name, "score": self.score, "label": self.label,
                 "explanation": self.explanation[:MAX_EXPLANATION] if self.explanation else None,
                 "spanId": self.span_id}
        return {key: value for key, value in facts.items() if value is not None}


def is_evaluation_span(span: SpanRecord) -> bool:
    """A span that records an evaluation (its model calls are the evaluator's, not the agent's)."""
    kind = span.attributes.get("openinference.span.kind")
    return EVALUATION_NAME in span.attributes or (isinstance(kind, str) and kind.upper() == "EVALUATOR")


def evaluations(spans: list[SpanRecord], root: SpanRecord, problems: list[str]) -> list[Evaluation]:
    """The evaluations recorded on these spans, in time order; a malformed or failed one is
    left out and noted in `problems`."""
    found = []
    for span in spans:
        recorded = [(event.attributes, event.time_ns, span.span_id == root.span_id) for event in span.events
                    if event.name == EVALUATION_EVENT]
        if EVALUATION_NAME in span.attributes:
            recorded.append((span.attributes, span.start_ns, span.parent_span_id == root.span_id))
        for attributes, time_ns, of_root in recorded:
            if evaluation := _evaluation(attributes, span, of_root, time_ns, problems):
                found.append(evaluation)
    return sorted(found, key=lambda evaluation: evaluation.time_ns)


def feedback(found: list[Evaluation]) -> dict | None:
    """`{"score", "comment"}` from the run's evaluations (None without any)."""
    if not found:
        return None
    scored = [evaluation for evaluation in found if evaluation.score is not None]
    judged_run = [evaluation for evaluation in scored if evaluation.of_root]
    chosen = min(judged_run or scored, key=lambda evaluation: evaluation.score) if scored else None
    ordered = ([chosen] if chosen else []) + [evaluation for evaluation in found if evaluation is not chosen]
    comment = "\n".join(evaluation.line() for evaluation in ordered)
    return {"score": chosen.score if chosen else None, "comment": comment[:MAX_COMMENT]}


def listed(found: list[Evaluation]) -> list[dict]:
    return [evaluation.listed() for evaluation in found[:MAX_LISTED]]


def _evaluation(attributes: Mapping[str, Any], span: SpanRecord, of_root: bool, time_ns: int,
                problems: list[str]) -> Evaluation | None:
    where = f"span {span.span_id} {span.name!r}: an evaluation"
    name = _text(attributes.get(EVALUATION_NAME))
    if name is None:
        problems.append(f"{where} without {EVALUATION_NAME} was left out")
        return None
    if error := _text(attributes.get("error.type")):
        problems.append(f"{where} {name!r} failed ({error[:100]}) and was left out")
        return None
    score = attributes.get("gen_ai.evaluation.score.value")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)
                              or not math.isfinite(score)):
        problems.append(f"{where} {name!r} has a score that is not a number: score left out")
        score = None
    return Evaluation(name=name[:200], score=float(score) if score is not None else None,
                      label=(_text(attributes.get("gen_ai.evaluation.score.label")) or "")[:200] or None,
                      explanation=_text(attributes.get("gen_ai.evaluation.explanation")),
                      span_id=span.span_id, of_root=of_root, time_ns=time_ns)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
