"""What an answer says, read clause by clause: its words, its polarity, and whether it declines.

A text (its quantities already replaced by placeholders, see `quantities.extract`) is cut into
clauses at sentence ends, semicolons, commas and joining words ("and", "but", "or", "then").
Each clause keeps its content words as Snowball stems, the placeholders it holds, and its
polarity: the parity of its negations, which come in many forms ("not", "n't", "no longer",
"never", "without", "non-refundable", "unable", "prohibited", "stops"). A word negated by a
prefix ("ineligible", "undamaged") is read as "not" + the word when the other text uses the word.
A short list of antonyms maps onto one side ("closed" = not "open", "optional" = not "required").
"""

import re
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import snowballstemmer

STOPWORDS = frozenset("""
a an the and or but if then of to in on at by for with from as is are was were be been being it its this that these
those there here i you he she we they me him her us them my your our their mine yours ours do does did done have has
had having can could will would shall should may might must so such than too very just also please thank thanks
what which who whom whose when where how why all any some each every up out about into onto over via per only
both either own same other another more most much many few lot lots get gets got getting let lets okay ok oh hi
hello dear sure certainly absolutely definitely indeed yes yeah yep well still yet already even ever really usually
normally typically generally currently now actually simply basically within upon once twice re ll ve d m s t just
sorry unfortunately afraid happy glad course anyone anything someone something everyone everything kind regards
longer
""".split())
NEGATIONS = frozenset("""
not no never none nobody nothing neither nor without unable non nope cannot impossible stop stops stopped stopping
cease ceases ceased discontinue discontinues discontinued exempt exempted
""".split())
NEGATIVE_PREFIXES = ("non", "un", "in", "im", "il", "ir", "dis")
ANTONYMS = {
    "prohibit": "allow", "forbid": "allow", "forbidden": "allow", "ban": "allow", "disallow": "allow",
    "exclud": "includ", "reject": "accept", "refus": "accept", "declin": "accept", "closed": "open",
    "option": "requir", "unavail": "avail", "inelig": "elig", "invalid": "valid",
    "lose": "keep", "lost": "keep",
}
SYNONYMS = {  # stems of common words in support answers that mean the same, mapped onto one
    "permit": "allow", "welcom": "allow", "need": "requir", "necessari": "requir", "mandatori": "requir",
    "cost": "charg", "fee": "charg", "price": "charg", "pay": "charg", "paid": "charg", "kept": "keep",
    "purchas": "buy", "bought": "buy", "phone": "call", "telephon": "call", "ring": "call",
    "pictur": "photo", "imag": "photo", "shop": "store", "dispatch": "ship", "deliveri": "ship", "deliv": "ship",
    "edit": "chang", "updat": "chang", "modifi": "chang", "amend": "chang", "click": "select", "tap": "select",
    "press": "select", "choos": "select", "chose": "select", "pick": "select", "navig": "open", "go": "open",
    "head": "open", "visit": "open", "reimburs": "refund", "termin": "cancel", "reach": "contact",
    "display": "view", "see": "view", "show": "view", "assist": "help", "begin": "start", "commenc": "start",
    "physician": "doctor", "gp": "doctor", "staff": "employe", "worker": "employe", "personnel": "employe",
    "client": "custom", "vacat": "holiday", "luggag": "bag", "baggag": "bag", "packag": "parcel",
    "fault": "problem", "defect": "problem", "identif": "id",
    "e": "", "mail": "email", "login": "sign", "log": "sign",
}
PREDICATE = frozenset("""
is are was were be been am can could will would may might must shall should do does did has have had need needs
i you we they he she it there this that not no never
""".split())
STRONG_BREAK = re.compile(r"[.;!?:()\[\]]+(?:\s|$)|\s-\s|>|\s(?:but|however|although|though|except|unless|so|because|"
                          r"whereas|otherwise)\s")
SOFT_BREAK = re.compile(r",|\s(?:and|or|plus|then|while)\s(?=(?:" + "|".join(sorted(PREDICATE)) + r")\b)")
ITEM_BREAK = re.compile(r",|\s(?:and|or|plus|then|&)\s")
WORD = re.compile(r"§\d+|[a-z0-9][a-z0-9@._'*#]*[a-z0-9#]|[a-z0-9]")
LEADS = {"yes": "yes", "yeah": "yes", "yep": "yes", "yup": "yes", "sure": "yes", "absolutely": "yes",
         "certainly": "yes", "correct": "yes", "indeed": "yes", "no": "no", "nope": "no", "nah": "no"}


@dataclass(frozen=True)
class Clause:
    """A clause, with its polarity, and the items it lists ('a photo ID, proof of address and …')."""

    text: str
    stems: tuple[str, ...]
    negations: int
    placeholders: frozenset[int]
    items: tuple["Clause", ...] = ()

    @property
    def negated(self) -> bool:
        return self.negations % 2 == 1


@cache
def _stemmer():
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    root = _stemmer().stemWord(word)
    return SYNONYMS.get(root, root)


def expand_contractions(text: str) -> str:
    text = re.sub(r"\bcan(?:'|no)t\b", "can not", text)
    text = re.sub(r"\bwon't\b", "will not", text)
    text = re.sub(r"\bshan't\b", "shall not", text)
    text = re.sub(r"\bain't\b", "is not", text)
    text = re.sub(r"n't\b", " not", text)
    for short, full in (("'m", " am"), ("'re", " are"), ("'ll", " will"), ("'ve", " have"), ("'d", " would")):
        text = re.sub(rf"{short}\b", full, text)
    return re.sub(r"'s\b|'", " ", text)


def words(text: str) -> list[str]:
    return WORD.findall(expand_contractions(text))


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if _is_content(w)]


def _is_content(word: str) -> bool:
    return word not in STOPWORDS and word not in NEGATIONS and not word.startswith("§") and stem(word) != ""


def clauses(text: str) -> list[Clause]:
    """The clauses of a normalised text (see `quantities.normalise`), each with its polarity.

    A clause ends at a sentence end, a semicolon or a contrast ('but', 'unless'), and at a comma
    or an 'and' that starts a new statement; a piece with no verb of its own ('outside food,
    drink and alcohol are not allowed') belongs to the statement after it. Each clause keeps the
    items it lists, split at commas and 'and' / 'or'."""
    found = []
    for sentence in STRONG_BREAK.split(expand_contractions(text)):
        pieces = [p for p in SOFT_BREAK.split(sentence) if p and p.strip()]
        statements, pending = [], ""
        for piece in pieces:
            pending = f"{pending}, {piece}" if pending else piece.strip()
            if _has_predicate(WORD.findall(pending)):
                statements.append(pending)
                pending = ""
        if pending:
            if statements:
                statements[-1] = f"{statements[-1]}, {pending}"
            else:
                statements.append(pending)
        for statement in statements:
            clause = _clause(statement)
            if clause is not None:
                items = tuple(filter(None, (_clause(item) for item in ITEM_BREAK.split(statement))))
                found.append(replace(clause, items=items))
    return found


def _has_predicate(tokens: list[str]) -> bool:
    return any(t in PREDICATE or (len(t) > 4 and t.endswith("ed")) for t in tokens)


def _clause(text: str) -> Clause | None:
    tokens = WORD.findall(text)
    if not tokens:
        return None
    negations = sum(1 for w in tokens if w in NEGATIONS)
    stems = []
    for w in tokens:
        if not _is_content(w):
            continue
        root = stem(w)
        opposite = ANTONYMS.get(w) or ANTONYMS.get(root)
        if opposite:
            negations += 1
            root = opposite
        stems.append(root)
    placeholders = frozenset(int(w[1:]) for w in tokens if w.startswith("§"))
    return Clause(text.strip(), tuple(stems), negations, placeholders)


def lead(text: str) -> str | None:
    """'yes' or 'no' when the answer opens with one; an opening 'unfortunately' or 'sadly' with
    neither is a no."""
    opening = re.match(r"\s*(?:(unfortunately|sadly|i am afraid|sorry|well|oh|ok|okay|great question)[\s,.!]+)?"
                       r"([a-z]+)\b", text)
    if opening is None:
        return None
    word = opening.group(2)
    if word in LEADS and not re.match(rf"\s*{word}\s+(?:one|need|[a-z]+\s+(?:is|are)\b)", text[opening.start(2):]):
        return LEADS[word]
    if opening.group(1) in ("unfortunately", "sadly", "i am afraid") and word not in ("i", "we"):
        return "no"
    return None


def negated_by_prefix(word_stem: str, vocabulary: set[str]) -> str | None:
    """'inelig' → 'elig' when the other text says 'elig': a prefix that negates a word it uses."""
    for prefix in NEGATIVE_PREFIXES:
        if word_stem.startswith(prefix) and len(word_stem) - len(prefix) >= 4:
            root = word_stem[len(prefix):]
            if root in vocabulary:
                return root
    return None


REFUSAL = re.compile(
    r"\bi\s+(?:am\s+)?(?:not\s+|un)able\s+to\b|\bi\s+am\s+not\s+(?:allowed|permitted|authori[sz]ed|in\s+a\s+position)\s+to\b|"
    r"\bi\s+(?:can|could|will|would|do|may)\s+not\s+(?:be\s+able\s+to\s+)?(?:\w+\s+){0,2}?(?:help|share|give|provide|access|"
    r"look|assist|tell|discuss|diagnose|advise|disclose|recommend|offer|see|check|find|answer|know|confirm|make|comment|"
    r"reveal|view|pull|retrieve|quote|estimate|guarantee|predict|track|say|speak|handle|process|have\s+(?:access|"
    r"information|info|details|visibility|that))\b|\bi\s+am\s+not\s+(?:sure|certain)\b"
)
NO_INFORMATION = re.compile(r"\bi\s+have\s+no\s+(?:access|information|info|way|visibility)\b|"
                            r"\bno\s+information\s+(?:is\s+)?available\b")


def refuses(text: str) -> bool:
    """Whether the text declines or says it cannot know (first person: 'I can't share', 'I don't know')."""
    plain = expand_contractions(text.lower())
    return REFUSAL.search(plain) is not None or NO_INFORMATION.search(plain) is not None
