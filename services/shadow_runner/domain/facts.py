"""Checking an answer against the expected one, fact by fact.

The facts of the expected answer are its quantities, its yes or no, the polarity of each
negated clause ("sale items can't be refunded"), the names it gives (capitalised words,
addresses, codes) and, for clauses that carry none of those, the claim the clause makes in
words. Each fact is `matched`, `partial`, `missing` or `clashes` in the answer. What the
customer asked (when known) is not news: a fact or word the question already holds counts
little. An extra statement of the answer that contradicts nothing is not a fact and costs nothing.
"""

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from services.shadow_runner.domain.quantities import (
    MONTHS,
    PHONE,
    WEEKDAYS,
    Extraction,
    Quantity,
    comparable,
    extract,
    is_phone,
    same,
    same_number,
    stated,
    within,
)
from services.shadow_runner.domain.statements import Clause, clauses, content_stems, lead, negated_by_prefix, refuses

CONTEXT = 0.04  # the weight of a fact the question already gives, and of the words around a fact
GIVEN_WORD = 0.2  # the weight of a word of a claim that the question already uses
SATURATION = 0.4  # a claim is made in full once this share of its (weighted) words is
READ_AT_MOST = 8000  # characters of a text read for facts
ALIGNED = 0.5  # the share of a clause's words another clause must share to be about the same thing
CAPITALISED = r"[A-Z][A-Za-z&+]*(?:-[A-Za-z]+)*"
CODE = r"[A-Za-z]+-?\d[\w-]*|\d+[A-Za-z][\w-]*"
UNIT_SUFFIX = re.compile(r"\d+(?:[.:]\d+)?(?:am|pm|st|nd|rd|th|h|hrs?|m|mins?|s|secs?|k|g|gb|mb|tb|kb|kg|lbs?|km|"
                         r"mi|mph|v|w|x|d|y|yrs?|mo|wk|mbps|gbps|ml|l|oz|p)")
EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
NAME = re.compile(rf"(?<![\w@.*#])(?:{CODE}|{CAPITALISED}(?:\s+{CAPITALISED})*|{EMAIL}|[*#][\w*#]+|{PHONE.pattern})")
NOT_NAMES = frozenset("""
i yes no ok okay sorry please hi hello thanks thank unfortunately sure absolutely the a an you we our your
am pm usd eur gbp cad aud gb mb tb kb kg lb lbs mbps gbps km mph v
""".split())


@dataclass(frozen=True)
class Fact:
    """`share` is how much of a claim in words the answer makes (None for other facts)."""

    what: str
    status: str
    said: str = ""
    weight: float = 1.0
    share: float | None = None
    kind: str = "fact"

    @property
    def value(self) -> float:
        if self.share is not None:
            return self.share
        return {"matched": 1.0, "partial": 0.5}.get(self.status, 0.0)

    @property
    def is_claim(self) -> bool:
        return self.kind == "claim"

    @property
    def is_news(self) -> bool:
        return self.weight >= 1

    def describe(self) -> str:
        if self.status == "clashes":
            return f"{self.said} (expected {self.what}: contradicts)"
        if self.status == "matched":
            return f"states {self.what}"
        if self.status == "partial":
            return f"partly states {self.what}" + (f" ({self.said})" if self.said else "")
        return f"misses {self.what}"


@dataclass(frozen=True)
class Reading:
    """A text read for its facts."""

    raw: str
    extraction: Extraction
    quantities: list[Quantity]
    clauses: list[Clause]
    names: list[str]
    lead: str | None
    refuses: bool

    @property
    def vocabulary(self) -> set[str]:
        return {s for clause in self.clauses for s in clause.stems}


@lru_cache(maxsize=256)
def read(text: str) -> Reading:
    """The facts a text states (cached: a trace's expected output is read for both answers)."""
    text = text[:READ_AT_MOST]
    found = extract(text)
    return Reading(text, found, stated(found), clauses(found.text), names(text), lead(found.text), refuses(text))


def names(text: str) -> list[str]:
    """Capitalised words not opening a sentence, e-mail addresses, codes: the names a text gives."""
    found = []
    for match in NAME.finditer(text):
        name = match.group(0)
        if PHONE.fullmatch(name):
            if is_phone(name):
                found.append("tel" + re.sub(r"[^0-9]", "", name))
            continue
        if re.fullmatch(CODE, name):
            if not UNIT_SUFFIX.fullmatch(name.lower()):
                found.append(name.lower().replace("-", ""))
            continue
        before = text[:match.start()].rstrip()
        words = name.split()
        if not before or before[-1] in ".!?:;\"'(-\u2014\u2013>" or re.search(r"\d$", before):
            words = words[1:] if words[0][0].isupper() else words
        words = [w for w in words if w.lower() not in NOT_NAMES and not re.fullmatch(r"\d+[a-z]{0,3}", w.lower())]
        if _is_calendar(words):
            continue
        if words and (len(words) > 1 or len(words[0]) > 1):
            found.append(" ".join(words).lower())
    return list(dict.fromkeys(found))


def _is_calendar(words: list[str]) -> bool:
    return bool(words) and all(w.lower().rstrip("s.") in MONTHS or w.lower().rstrip("s.") in WEEKDAYS for w in words)


def check(answer: Reading, expected: Reading, asked: Reading | None = None) -> list[Fact]:
    pairs, facts = _quantities(answer, expected, asked)
    facts += _lead(answer, expected)
    facts += _names(answer, expected, asked)
    facts += _clauses(answer, expected, asked, pairs)
    return facts


def _quantities(answer: Reading, expected: Reading, asked: Reading | None) -> tuple[dict[int, int], list[Fact]]:
    """The facts, and which answer quantity (by placeholder) states which expected one."""
    facts: list[Fact] = []
    pairs: dict[int, int] = {}
    live = [i for i, q in enumerate(expected.extraction.quantities) if q.kind != "absorbed"]
    said = [i for i, q in enumerate(answer.extraction.quantities) if q.kind != "absorbed"]
    quantity = answer.extraction.quantities

    def weight(wanted: Quantity) -> float:
        return CONTEXT if asked and any(same(wanted, q) for q in asked.quantities) else 1.0

    unmatched = []
    for index in live:
        wanted = expected.extraction.quantities[index]
        found = next((i for i in said if i not in pairs.values() and same(wanted, quantity[i])), None)
        if found is None:
            unmatched.append(index)
            continue
        pairs[index] = found
        facts.append(Fact(wanted.text, "matched", weight=weight(wanted), kind="quantity"))
    for index in unmatched:
        wanted = expected.extraction.quantities[index]
        inside = next((i for i in said if i not in pairs.values() and within(wanted, quantity[i])), None)
        rival = next((i for i in said if i not in pairs.values() and comparable(wanted, quantity[i])), None)
        loose = next((i for i in said if i not in pairs.values() and same_number(wanted, quantity[i])), None)
        if rival is None and loose is not None:
            pairs[index] = loose
            facts.append(Fact(wanted.text, "matched", weight=weight(wanted), kind="quantity"))
        elif inside is not None:
            pairs[index] = inside
            facts.append(Fact(wanted.text, "partial", f"says {quantity[inside].text}", kind="quantity"))
        elif rival is not None:
            pairs[index] = rival
            facts.append(Fact(wanted.text, "clashes", f"states {quantity[rival].text}", kind="quantity"))
        else:
            facts.append(Fact(wanted.text, "missing", weight=weight(wanted), kind="quantity"))
    free = [q for q in expected.quantities if q.kind == "money" and q.low == 0]
    if free and not any(q.kind == "money" and q.low > 0 for q in expected.quantities):
        charged = [q for q in answer.quantities if q.kind == "money" and q.low > 0]
        if charged:
            facts.append(Fact(f"{free[0].text} (nothing to pay)", "clashes", f"states {charged[0].text}",
                              kind="quantity"))
    return pairs, facts


def _lead(answer: Reading, expected: Reading) -> list[Fact]:
    if expected.lead is None or answer.lead is None:
        return []
    if answer.lead == expected.lead:
        return [Fact(f'"{expected.lead}"', "matched", kind="lead")]
    return [Fact(f'"{expected.lead}"', "clashes", f'says "{answer.lead}"', kind="lead")]


def _names(answer: Reading, expected: Reading, asked: Reading | None) -> list[Fact]:
    said, wanted = (" ".join([r.raw.lower(), *r.names]) for r in (answer, expected))
    known = " ".join([asked.raw.lower(), *asked.names]) if asked else ""
    news = [n for n in expected.names if not (known and _mentions(known, n))]
    missing = [n for n in news if not _mentions(said, n)]
    rivals = [n for n in answer.names if not _mentions(wanted, n) and not (known and _mentions(known, n))]
    facts = [Fact(n, "matched" if _mentions(said, n) else "missing", weight=CONTEXT, kind="name")
             for n in expected.names if n not in news]
    facts += [Fact(n, "matched", kind="name") for n in news if n not in missing]
    for index, name in enumerate(missing):
        if index < len(rivals):
            facts.append(Fact(name, "clashes", f"names {rivals[index]}", kind="name"))
        else:
            facts.append(Fact(name, "missing", kind="name"))
    return facts


def _mentions(text: str, name: str) -> bool:
    if re.search(rf"(?<![\w@]){re.escape(name)}(?![\w@])", text):
        return True
    if "-" in name and re.search(rf"(?<![\w@]){re.escape(name.replace('-', ''))}(?![\w@])", text.replace("-", "")):
        return True
    stems = content_stems(name)
    vocabulary = set(content_stems(text))
    return bool(stems) and all(s in vocabulary for s in stems)


def _clauses(answer: Reading, expected: Reading, asked: Reading | None, pairs: dict[int, int]) -> list[Fact]:
    """Each expected clause: its polarity where it has one, and the claim it makes in words."""
    facts = []
    given = asked.vocabulary if asked else set()
    known = " ".join([asked.raw.lower(), *asked.names]) if asked else ""
    new_names = [n for n in expected.names if not (known and _mentions(known, n))]
    asks_for_words = bool(asked and re.search(r"\b(?:where|who|whom|which)\b", asked.raw.lower()))
    answer_clauses = [_resolve(c, expected.vocabulary) for c in answer.clauses]
    wanted_clauses = [_resolve(c, answer.vocabulary) for c in expected.clauses]
    wanted_stems = {s for c in wanted_clauses for s in c.stems} | \
        {s for c in expected.clauses for item in c.items for s in _resolve(item, answer.vocabulary).stems}
    matches = _Matches(wanted_stems, {s for c in answer_clauses for s in c.stems})
    for clause, wanted in zip(expected.clauses, wanted_clauses, strict=True):
        if not wanted.stems:
            continue
        polarity = _polarity(wanted, answer_clauses, pairs, matches)
        if polarity is not None:
            facts.append(polarity)
            if polarity.status == "clashes":
                continue
        for item in clause.items or (clause,):
            stems = _resolve(item, answer.vocabulary).stems
            if not stems:
                continue
            carries_fact = bool(item.placeholders) or wanted.negated or any(_mentions(item.text, n) for n in new_names)
            weights = [GIVEN_WORD if s in given else 1.0 for s in stems]
            found = sum(w * matches.best(s) for s, w in zip(stems, weights, strict=True)) / sum(weights)
            coverage = min(1.0, found / SATURATION)
            news = any(w == 1.0 for w in weights)
            if carries_fact and asks_for_words and sum(w == 1.0 for w in weights) >= 2 and not wanted.negated:
                carries_fact = False
            status = "matched" if coverage >= 0.999 else "partial" if coverage > 0 else "missing"
            facts.append(Fact(f'"{item.text}"', status, f"{coverage:.0%} of its words",
                              1.0 if news and not carries_fact else CONTEXT, coverage, kind="claim"))
    return facts


def _polarity(wanted: Clause, answer_clauses: list[Clause], pairs: dict[int, int], matches: "_Matches") -> Fact | None:
    """Negated or not as expected, judged on the answer's clauses about the same thing: one with
    the same polarity is enough; a contradiction needs a clause that shares most of the words."""
    what = f'"{wanted.text}" ({"negative" if wanted.negated else "positive"})'
    stated_at = {pairs[i] for i in wanted.placeholders if i in pairs}
    best, best_overlap, agreeing = None, 0.0, False
    for candidate in answer_clauses:
        if not candidate.stems:
            continue
        words = set(candidate.stems)
        shared = sum(matches.best(s, words) for s in wanted.stems) + len(stated_at & candidate.placeholders)
        overlap = shared / (len(wanted.stems) + len(stated_at))
        if candidate.negated == wanted.negated and overlap >= 0.3:
            agreeing = True
        if overlap > best_overlap and shared >= min(2, len(wanted.stems)):
            best, best_overlap = candidate, overlap
    if agreeing:
        return Fact(what, "matched", kind="polarity") if wanted.negated else None
    if best is not None and best_overlap >= ALIGNED and best.negated != wanted.negated:
        return Fact(what, "clashes", f'says "{best.text}"', kind="polarity")
    return Fact(what, "missing", kind="polarity") if wanted.negated else None


class _Matches:
    """How well each expected word is matched by each answer word: the same stem (1), one stem
    the start of the other (0.9, 'deliv'/'deliveri'), or one edit in five (0.8, typos)."""

    def __init__(self, wanted: set[str], said: set[str]):
        self.scores = {w: {o: score for o in said if (score := _similarity(w, o))} for w in wanted}

    def best(self, word: str, among: set[str] | None = None) -> float:
        scores = self.scores.get(word, {})
        return max((v for o, v in scores.items() if among is None or o in among), default=0.0)


def _similarity(word: str, other: str) -> float:
    if word == other:
        return 1.0
    shorter, longer = sorted((word, other), key=len)
    if len(shorter) >= 4 and longer.startswith(shorter):
        return 0.9
    if len(shorter) >= 5 and Levenshtein.normalized_similarity(word, other) >= 0.8:
        return 0.8
    return 0.0


def _resolve(clause: Clause, other_vocabulary: set[str]) -> Clause:
    """The clause with words negated by a prefix read as 'not' + the word the other text uses."""
    stems, negations = [], clause.negations
    for s in clause.stems:
        root = negated_by_prefix(s, other_vocabulary) if s not in other_vocabulary else None
        negations += 1 if root else 0
        stems.append(root or s)
    return replace(clause, stems=tuple(stems), negations=negations)


def is_non_answer(answer: Reading, facts: list[Fact]) -> bool:
    """An answer that declines or does not know, and states none of the expected facts."""
    return answer.refuses and not any(f.value > 0 and f.is_news for f in facts if not f.is_claim)
