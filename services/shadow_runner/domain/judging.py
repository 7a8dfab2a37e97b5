"""`side_by_side`: the judge is asked about every pair twice, once with the original answer shown
first and once with the fixed one first, so that a judge favouring whichever answer it reads
first (or second) favours each answer once. Each order's scores give a verdict of their own.
When the two verdicts agree, that is the verdict and the scores are the mean of both orders;
when they disagree, the judge's preference depends on the order it was shown, so the verdict
is `unchanged` (the scores are still the mean). Pure rules; the handlers call the judge."""

from dataclasses import dataclass

from services.shadow_runner.domain.replay import ChatRequest, user_input
from services.shadow_runner.domain.scoring import Score, judge_messages, verdict
from shared.contracts.traces import Trace

JUDGEMENT_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "judgement",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "scoreA": {"type": "number", "description": "Answer A, from 0 (wrong or harmful) to 1 (correct)"},
                "scoreB": {"type": "number", "description": "Answer B, from 0 (wrong or harmful) to 1 (correct)"},
                "explanation": {"type": "string", "description": "One or two sentences"},
            },
            "required": ["scoreA", "scoreB", "explanation"],
            "additionalProperties": False,
        },
    },
}
"""The judge's reply as structured output (OpenAI's `response_format`); the prompt asks for the
same JSON in words, for endpoints that refuse the parameter."""


def judge_request(model: str, trace: Trace, issue: dict | None, answer: str, fixed_first: bool,
                  structured: bool) -> ChatRequest:
    """The judge sees both answers as A and B, the fixed one first when `fixed_first`; with
    `structured`, its reply is asked for as JSON of `JUDGEMENT_FORMAT`."""
    first, second = (answer, trace.output) if fixed_first else (trace.output, answer)
    parameters: dict = {"temperature": 0}
    if structured:
        parameters["response_format"] = JUDGEMENT_FORMAT
    return ChatRequest(model=model, messages=judge_messages(issue, user_input(trace), first, second),
                       parameters=parameters)


@dataclass(frozen=True)
class Reading:
    """What the judge said in one order, mapped back to the original and the fixed answer."""

    fixed_first: bool
    original: float
    fixed: float
    explanation: str

    @classmethod
    def of(cls, score_a: float, score_b: float, explanation: str, fixed_first: bool) -> "Reading":
        fixed, original = (score_a, score_b) if fixed_first else (score_b, score_a)
        return cls(fixed_first, original, fixed, explanation)

    def verdict(self, margin: float) -> str:
        return verdict(self.original, self.fixed, margin)

    def describe(self, margin: float) -> str:
        order = "Fixed shown first" if self.fixed_first else "Original shown first"
        return (f'{order}: original {self.original:.2f}, fixed {self.fixed:.2f} ({self.verdict(margin)}); '
                f'the judge said "{self.explanation}"')


@dataclass(frozen=True)
class Judged(Score):
    """Both orders' readings, their mean scores and the verdict they reach together."""

    original_first: Reading
    fixed_first: Reading
    agreed: bool
    verdict: str


def both_orders(original_first: Reading, fixed_first: Reading, margin: float) -> Judged:
    """The pair's scores (the mean of both orders) and verdict: the orders' common verdict, or
    `unchanged` when they disagree."""
    own = original_first.verdict(margin), fixed_first.verdict(margin)
    agreed = own[0] == own[1]
    original = round((original_first.original + fixed_first.original) / 2, 4)
    fixed = round((original_first.fixed + fixed_first.fixed) / 2, 4)
    outcome = (f"The orders agree: {own[0]}." if agreed else
               "The orders disagree on which answer is better, so the verdict is unchanged.")
    explanation = (f"Judge, asked in both orders (scores are their mean). {original_first.describe(margin)}. "
                   f"{fixed_first.describe(margin)}. {outcome}")
    return Judged(original, fixed, explanation, original_first, fixed_first, agreed, own[0] if agreed else "unchanged")
