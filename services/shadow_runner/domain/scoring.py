"""Scoring the original answer against the fixed one, and the verdict.

Two modes:
- `automated`: deterministic evaluators, averaged. With an `expectedOutput`, how well each answer
  states its facts without contradicting any, in [0, 1] (`assess`; docs/scoring.md); for a
  guardrail fix, whether each answer keeps the rule (1 or 0). A trace with neither cannot be
  scored automatically and is `errored`.
- `side_by_side`: an LLM judge reads the issue, the conversation and both answers (as A and B)
  and scores each in [0, 1] with an explanation (see `judge_messages`), asked in both orders
  (see `judging`).

The verdict is `improved` or `regressed` when the fixed score moves by more than the margin,
else `unchanged`.
"""

import json
import re
from dataclasses import dataclass

from services.shadow_runner.domain.facts import CONTEXT, Fact, check, is_non_answer, read
from services.shadow_runner.domain.replay import violates
from shared.contracts.fixes import Guardrail

NON_ANSWER = 0.1
ASKED_AT_MOST = 4000  # the customer's latest words are what the answer answers
CONTRADICTED_SPAN = 0.3


@dataclass(frozen=True)
class Score:
    original: float
    fixed: float
    explanation: str


@dataclass(frozen=True)
class Assessment:
    """One answer against the expected one: its score in [0, 1] and the facts behind it."""

    score: float
    facts: tuple[Fact, ...]
    note: str = ""

    def describe(self) -> str:
        shown = [f.describe() for f in self.facts if not f.is_claim or f.status != "matched"][:6]
        claims = [f for f in self.facts if f.is_claim and f.weight >= 1]
        if claims:
            covered = sum(f.value for f in claims)
            shown.append(f"says {covered:.1f} of {len(claims)} expected claims in words")
        return "; ".join(filter(None, [self.note, *shown])) or "nothing to compare"


def verdict(original: float, fixed: float, margin: float) -> str:
    change = round(fixed - original, 9)
    if change > margin:
        return "improved"
    if -change > margin:
        return "regressed"
    return "unchanged"


def assess(answer: str, expected: str, question: str | None = None) -> Assessment:
    """How well an answer tells the customer what the expected answer does, given what they asked.

    Each expected fact and each claim made only in words counts the same; what the question
    already holds and the words around a fact move the share stated by at most 0.04.
    - No contradiction: 0.1 + 0.9 × the share stated (all of it: 1; none: 0.1).
    - Any contradiction: 0.1 + 0.3 × the share of facts stated / (1 + the contradictions). So a
      wrong answer stays in the failing band whatever words it shares, and two wrong answers
      differ only by the facts they get right and wrong.
    - Declining, or not knowing, where an answer was expected: 0.1, like an answer that states
      nothing; where the expected answer declines, declining scores 0.95 and up, answering 0.05.
    Extra detail that contradicts nothing costs nothing.
    """
    said, wanted = read(answer), read(expected)
    asked = read(question[-ASKED_AT_MOST:]) if question else None
    if wanted.refuses:
        if not said.refuses:
            return Assessment(0.05, (), "answers where the expected answer declines")
        claims = [f for f in check(said, wanted, asked) if f.is_claim]
        coverage = sum(f.value for f in claims) / len(claims) if claims else 1.0
        return Assessment(round(0.95 + 0.05 * coverage, 4), (), "declines, as expected")
    facts = check(said, wanted, asked)
    if is_non_answer(said, facts):
        return Assessment(NON_ANSWER, (), "declines or does not know, where an answer was expected")
    clashes = sum(1 for f in facts if f.status == "clashes")
    if clashes:
        share = _share([f for f in facts if not f.is_claim])
        return Assessment(round(NON_ANSWER + CONTRADICTED_SPAN * share / (1 + clashes), 4), tuple(facts))
    return Assessment(round(NON_ANSWER + (1 - NON_ANSWER) * _share(facts), 4), tuple(facts))


def _share(facts: list[Fact]) -> float:
    """The share of the expected facts stated: news counts, and context (what the question holds,
    the words around a fact) moves the share by at most CONTEXT."""
    news = [f for f in facts if f.is_news]
    context = [f for f in facts if not f.is_news]
    news_share = sum(f.value for f in news) / len(news) if news else None
    context_share = sum(f.value for f in context) / len(context) if context else None
    if news_share is None:
        return 1.0 if context_share is None else context_share
    if context_share is None:
        return news_share
    return (1 - CONTEXT) * news_share + CONTEXT * context_share


def reference_score(answer: str, expected: str, question: str | None = None) -> float:
    """How well an answer says what the expected one says, in [0, 1] (see `assess`)."""
    return assess(answer, expected, question).score


def automated_score(original: str, fixed: str, expected: str | None, guardrail: Guardrail | None,
                    question: str | None = None) -> Score | None:
    """The mean of the evaluators that apply, or None when none does. `question` is what the
    customer asked (their messages), if known: what it already says is not counted as news."""
    parts: list[tuple[float, float, str]] = []
    if expected:
        before, after = assess(original, expected, question), assess(fixed, expected, question)
        parts.append((before.score, after.score, f"against the expected output, fixed {after.score:.2f} "
                      f"({after.describe()}); original {before.score:.2f} ({before.describe()})"))
    if guardrail is not None:
        before, after = float(not violates(original, guardrail)), float(not violates(fixed, guardrail))
        kept = {1.0: "keeps", 0.0: "breaks"}
        parts.append((before, after, f"guardrail {guardrail.rule}: original {kept[before]} it, fixed {kept[after]} it"))
    if not parts:
        return None
    original_score = round(sum(p[0] for p in parts) / len(parts), 4)
    fixed_score = round(sum(p[1] for p in parts) / len(parts), 4)
    return Score(original_score, fixed_score, "Automated: " + "; ".join(p[2] for p in parts) + ".")


def judge_messages(issue: dict | None, conversation: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    problem = (
        f"Known problem with this agent: {issue['title']}\n{issue['description']}\n\n" if issue else ""
    )
    return [
        {
            "role": "system",
            "content": (
                "You grade answers of an AI agent. Score each answer from 0 (wrong or harmful) to 1 "
                "(correct, complete and helpful) for the conversation, paying most attention to the "
                "known problem. Reply with JSON only: "
                '{"scoreA": <number>, "scoreB": <number>, "explanation": "<one or two sentences>"}'
            ),
        },
        {
            "role": "user",
            "content": f"{problem}Conversation:\n{conversation}\n\nAnswer A:\n{answer_a}\n\nAnswer B:\n{answer_b}",
        },
    ]


class MalformedJudgement(ValueError):
    pass


def parse_judgement(text: str) -> tuple[float, float, str]:
    """scoreA, scoreB and the explanation from the judge's reply (JSON, possibly fenced)."""
    match = re.search(r"\{.*\}", text, re.S)
    if match is None:
        raise MalformedJudgement(f"no JSON object in the judge's reply: {text[:200]!r}")
    try:
        data = json.loads(match.group(0))
        scores = (float(data["scoreA"]), float(data["scoreB"]))
        explanation = str(data["explanation"]).strip()
    except (ValueError, KeyError, TypeError) as error:
        raise MalformedJudgement(f"the judge's reply is not the JSON asked for: {error!r}") from error
    if not all(0 <= score <= 1 for score in scores) or not explanation:
        raise MalformedJudgement(f"scores must be in [0, 1] with an explanation: {data!r}")
    return scores[0], scores[1], explanation
