"""Scoring the original answer against the fixed one, and the verdict.

Two modes:
- `automated`: deterministic evaluators, averaged. With an `expectedOutput`, a reference score
  in [0, 1] (`reference_score`); for a guardrail fix, whether each answer keeps the rule
  (1 or 0). A trace with neither cannot be scored automatically and is `errored`.
- `side_by_side`: an LLM judge reads the issue, the conversation and both answers (in random
  order, as A and B) and scores each in [0, 1] with an explanation (see `judge_messages`).

The verdict is `improved` or `regressed` when the fixed score moves by more than the margin,
else `unchanged`.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass

from services.shadow_runner.domain.replay import violates
from shared.contracts.fixes import Guardrail

STOPWORDS = frozenset("""
a an the and or but if then of to in on at by for with from as is are was were be been being it its this that
these those i you he she we they me him her us them my your our their do does did have has had can could will
would shall should may might must so such than too very just also please thank thanks
""".split())
NEGATIONS = frozenset({"no", "not", "never", "cannot", "none", "nothing", "without"})
WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True)
class Score:
    original: float
    fixed: float
    explanation: str


def verdict(original: float, fixed: float, margin: float) -> str:
    change = round(fixed - original, 9)
    if change > margin:
        return "improved"
    if -change > margin:
        return "regressed"
    return "unchanged"


def reference_score(answer: str, expected: str) -> float:
    """How well an answer says what the expected one says, in [0, 1].

    Content words (stop words dropped) are compared as an F1 score. The facts an answer turns
    on, its numbers and its negations, are compared apart as a second F1 score and weigh 60%
    when the expected answer has any: "within 60 days" against an expected "within 30 days"
    shares nearly every word and still scores low.
    """
    answer_words, expected_words = _words(answer), _words(expected)
    content = _f1(Counter(_stem(w) for w in answer_words if w not in STOPWORDS),
                  Counter(_stem(w) for w in expected_words if w not in STOPWORDS))
    expected_facts = _facts(expected_words)
    if not expected_facts:
        return round(content, 4)
    return round(0.4 * content + 0.6 * _f1(_facts(answer_words), expected_facts), 4)


def automated_score(original: str, fixed: str, expected: str | None, guardrail: Guardrail | None) -> Score | None:
    """The mean of the evaluators that apply, or None when none does."""
    parts: list[tuple[float, float, str]] = []
    if expected:
        before, after = reference_score(original, expected), reference_score(fixed, expected)
        parts.append((before, after, f"reference score {before:.2f} → {after:.2f} against the expected output"))
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


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("n't", " not"))


def _stem(word: str) -> str:
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _facts(words: list[str]) -> Counter:
    return Counter(w for w in words if w[0].isdigit() or w in NEGATIONS)


def _f1(answer: Counter, expected: Counter) -> float:
    if not answer and not expected:
        return 1.0
    overlap = sum((answer & expected).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(answer.values()), overlap / sum(expected.values())
    return 2 * precision * recall / (precision + recall)
