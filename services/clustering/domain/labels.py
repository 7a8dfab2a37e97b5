"""Deterministic titles, descriptions and tags for a new cluster, from what is distinctive in it.

Terms are the content words and two-word phrases of a trace (question, tool errors, answer
and feedback), without stop words, chat fillers or anything holding a digit. A term is
distinctive for a cluster when many members use it and the agent's other failing traces
rarely do (a class-based TF-IDF): share of members using it × (1 + ln((1 + traces outside the
cluster) / (1 + those of them using it))).
"""

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from services.clustering.domain.model import Digest

FILLERS = frozenset(
    "hi hello hey hiya thanks thank please pls ok okay sorry dear yes just like want need know get got "
    "help can could would will also really quick question lol hallo bonjour good morning afternoon evening "
    "tell let sure did does got ago".split()
)
STOP = frozenset(ENGLISH_STOP_WORDS) | FILLERS
WORD = re.compile(r"[a-z][a-z_]*[a-z]")
TITLE_QUESTION_CHARS = 90
SIGNATURE_CHARS = 80
MAX_TITLE = 200
TAGS = 5


def terms_of(*texts: str) -> tuple[str, ...]:
    """The distinct terms of some texts, in their first order."""
    seen: dict[str, None] = {}
    for text in texts:
        cleaned = re.sub(r"\S*\d\S*", " ", re.sub(r"['’]\w*", "", text.lower()))
        for sentence in re.split(r"[.!?;:,\n()\"]+", cleaned):
            words = [word for word in WORD.findall(sentence) if len(word) > 2 and word not in STOP]
            seen.update((word, None) for word in words)
            seen.update((f"{a} {b}", None) for a, b in zip(words, words[1:], strict=False))
    return tuple(seen)


@dataclass
class Vocabulary:
    """In how many of an agent's failing traces each term occurs (persisted with the state)."""

    documents: int = 0
    frequencies: Counter = field(default_factory=Counter)

    def add(self, terms: tuple[str, ...]) -> None:
        self.documents += 1
        self.frequencies.update(terms)


def distinctive_terms(members: list[Digest], vocabulary: Vocabulary, count: int = TAGS) -> list[str]:
    inside = Counter(term for member in members for term in member.terms)
    outside_documents = max(vocabulary.documents - len(members), 0)
    minimum = 2 if any(uses >= 2 for uses in inside.values()) else 1

    def score(term: str) -> float:
        outside = max(vocabulary.frequencies.get(term, 0) - inside[term], 0)
        return inside[term] / len(members) * (1 + math.log((1 + outside_documents) / (1 + outside)))

    ranked = sorted((term for term, uses in inside.items() if uses >= minimum), key=lambda t: (-score(t), t))
    chosen: list[str] = []
    for term in ranked:
        if not set(term.split()) & {word for each in chosen for word in each.split()}:
            chosen.append(term)
        if len(chosen) == count:
            break
    return chosen


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def error_signature(digest: Digest) -> str:
    """What the first tool error (else the answer) says, without its JSON wrapping."""
    line = (digest.tool_errors or digest.answer).split("\n")[0]
    try:
        parsed = json.loads(line)
        if isinstance(parsed, dict) and parsed.get("error"):
            line = str(parsed["error"])
    except ValueError:
        pass
    return shorten(line, SIGNATURE_CHARS)


def last_question(digest: Digest) -> str:
    lines = [line for line in digest.question.split("\n") if line.strip()]
    return shorten(lines[-1] if lines else digest.question, TITLE_QUESTION_CHARS)


def title_for(members: list[Digest], representative: Digest, terms: list[str]) -> str:
    errors = sum(member.status == "error" for member in members)
    if errors * 2 > len(members):
        signatures = Counter(error_signature(member) for member in members if member.status == "error")
        headline = min(signatures, key=lambda s: (-signatures[s], s))
    else:
        headline = ", ".join(terms[:3]) or "Failing answers"
        headline = headline[0].upper() + headline[1:]
    question = last_question(representative)
    return shorten(f"{headline}: “{question}”" if question else headline, MAX_TITLE)


def description_for(members: list[Digest], representative: Digest, terms: list[str], facts: str) -> str:
    lines = [facts]
    if terms:
        lines.append("Distinctive terms: " + ", ".join(terms) + ".")
    lines.append("A representative trace:")
    for label, text in (
        ("User", representative.question),
        ("Tool error", representative.tool_errors),
        ("Answer", representative.answer),
        ("Feedback", representative.feedback),
    ):
        if text:
            lines.append(f"- {label}: {shorten(text, 600)}")
    return "\n".join(lines)[:10_000]
