"""The quantities a text states, normalised so that different ways of saying one compare equal.

Number words become digits ("thirty", "twenty-four", "a dozen", "half a year"); money keeps its
currency and what it is per ("$20 a month" = "20 dollars per month" = "USD 20 monthly"; "free" and
"no fee" are an amount of 0); durations are in days ("24 months" = "2 years", "48 hours" =
"2 days"; a business day counts 7/5 of a day); times of day are minutes after midnight ("7pm" =
"19:00"; a bare "9 to 5" may be read as times); dates are (year, month, day), a numeric one read
both day-first and month-first; weekday spans are sets ("weekdays" = "Monday to Friday"); other
numbers keep the words after them ("3 devices", "100 Mbps"). Two quantities joined by "to", "-",
"through" or "between … and" are a range.

`extract` returns the quantities and the text with each one replaced by a placeholder (`§n`),
so that the words left can be read apart from the numbers.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

from text_to_num import alpha2digit

from services.shadow_runner.domain.statements import content_stems, expand_contractions

MONTHS = {name: number for number, names in enumerate([
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
    ("november", "nov"), ("december", "dec")], start=1) for name in names}
WEEKDAYS = {name: number for number, names in enumerate([
    ("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"), ("thursday", "thu", "thur", "thurs"),
    ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun")]) for name in names}
DAY_UNITS = {
    "second": 1 / 86400, "sec": 1 / 86400, "minute": 1 / 1440, "min": 1 / 1440, "m": 1 / 1440,
    "hour": 1 / 24, "hr": 1 / 24, "h": 1 / 24, "day": 1, "night": 1, "week": 7, "wk": 7, "fortnight": 14,
    "month": 30.44, "mo": 30.44, "year": 365.25, "yr": 365.25, "decade": 3652.5,
}
CURRENCY_SYMBOLS = {"$": "usd", "£": "gbp", "€": "eur", "¥": "jpy", "₹": "inr"}
CURRENCY_WORDS = {
    "dollar": "usd", "usd": "usd", "buck": "usd", "pound": "gbp", "gbp": "gbp", "quid": "gbp", "euro": "eur",
    "eur": "eur", "yen": "jpy", "jpy": "jpy", "rupee": "inr", "inr": "inr", "cad": "cad", "aud": "aud",
}
PERIODS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year",
           "annual": "year", "nightly": "night", "hourly": "hour"}

NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
WEEKDAY = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
UNIT = r"(?:business|working|calendar)\s+days?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|nights?|weeks?|wks?|" \
       r"fortnights?|months?|mos?|years?|yrs?|decades?"
PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{1,4}[\s.-])(?:\d{2,4}[\s.-]){1,3}"
                   r"\d{3,4}(?!\w)(?!\.\d)")
DATE_LIKE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2}")


@dataclass(frozen=True)
class Quantity:
    """`kind` is money, percent, duration, time, date, weekdays, count, ordinal or number (bare).
    `low`/`high` are equal unless it is a range; a date's value is (year or 0, month, day) and
    `readings` holds the other ways a numeric date can be read; `unit` is the currency, or the
    words after a count, or the word before a bare number; `per` is what an amount is per."""

    kind: str
    low: float | tuple
    high: float | tuple
    text: str
    unit: frozenset = frozenset()
    per: frozenset = frozenset()
    readings: tuple = ()

    @property
    def is_range(self) -> bool:
        return self.low != self.high


ABSORBED = Quantity("absorbed", 0.0, 0.0, "")


@dataclass
class Extraction:
    text: str
    quantities: list[Quantity] = field(default_factory=list)

    def sub(self, pattern: str, make, flags: int = 0) -> None:
        """Replace each match that `make(match)` turns into a quantity by its placeholder; `make`
        returns (quantity or None, which group to replace)."""
        def replace(match: re.Match) -> str:
            quantity, group = make(match)
            if quantity is None:
                return match.group(0)
            self.quantities.append(quantity)
            start, end = (s - match.start() for s in match.span(group))
            whole = match.group(0)
            return f"{whole[:start]} §{len(self.quantities) - 1} {whole[end:]}"

        self.text = re.sub(r"[ ]{2,}", " ", re.sub(pattern, replace, self.text, flags=flags))

    def after_quantity(self, position: int) -> bool:
        return re.search(r"§\d+\s*$", self.text[:position]) is not None


def number(text: str) -> float:
    return float(text.replace(",", ""))


def normalise(text: str) -> str:
    """Lower case, number words as digits, and the spellings of times and amounts made one."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"(?<=\d)\s*[\u2013\u2014]\s*(?=\d)", "-", text)
    text = re.sub(r"\s*[\u2013\u2014]\s*", ", ", text)
    text = re.sub(r"(?m)^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+|(?<=[.!?:;,])\s*\d{1,2}[.)]\s+(?=[A-Z])", " ", text)
    text = re.sub(r"[*_`#]{1,3}(?=\w)|(?<=\w)[*_`]{1,3}", "", text)
    text = PHONE.sub(_phone, text)
    text = re.sub(r"\b([A-Z][A-Za-z]{0,9})-(\d+[A-Za-z0-9]*)\b", r"\1\2", text)  # a code: 'NC-12' is 'NC12'
    text = re.sub(r"\b24\s*/\s*7\b|\b(?:a)?round\s+the\s+clock\b|\b24\s+hours\s+a\s+day,?\s+7\s+days\s+a\s+week\b",
                  " 0:00 to 24:00 every day of the week ", text)
    text = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", " ", text)
    text = re.sub(r"(?<=\d)-(?=[A-Za-z])", " ", text)
    text = re.sub(r"\b([ap])\.m\.?(?=\W|$)", r"\1m", text, flags=re.I)
    text = re.sub(r"\bper\s+cent\b", "percent", text, flags=re.I)
    text = re.sub(r"\bno\s+one\b", "nobody", text, flags=re.I)
    text = _alpha2digit(text).lower()
    text = expand_contractions(text)
    text = re.sub(r"\ba\s+couple\s+of\b", "2", text)
    text = re.sub(rf"\b(?:a|1)\s+quarter\s+of\s+(?:an?\s+)?({UNIT})\b", r"0.25 \1", text)
    text = re.sub(rf"\b3\s+quarters\s+of\s+(?:an?\s+)?({UNIT})\b", r"0.75 \1", text)
    text = re.sub(r"\b(?:a\s+)?(\d+)\s+dozen\b", lambda m: str(int(m.group(1)) * 12), text)
    text = re.sub(r"\bhalf\s+a\s+dozen\b", "6", text)
    text = re.sub(r"\b(?:an?\s+)?dozen\b", "12", text)
    text = re.sub(r"\ban?\s+(\d)", r"\1", text)
    text = re.sub(rf"\b(\d+)\s+and\s+a\s+half\s+({UNIT})\b", lambda m: f"{m.group(1)}.5 {m.group(2)}", text)
    text = re.sub(rf"\b(?:an?|1)\s+({UNIT})\s+and\s+a\s+half\b", r"1.5 \1", text)
    text = re.sub(rf"\bhalf\s+(?:an?\s+)?({UNIT})\b", r"0.5 \1", text)
    text = re.sub(r"\b(?:12\s+)?(?:noon|midday)\b", "12:00", text)
    text = re.sub(r"\b(?:12\s+)?midnight\b", "0:00", text)
    text = re.sub(r"\b(\d{1,2}(?:[:.]\d{2})?)\s+in\s+the\s+morning\b", r"\1am", text)
    text = re.sub(r"\b(\d{1,2}(?:[:.]\d{2})?)\s+(?:in\s+the\s+(?:afternoon|evening)|at\s+night)\b", r"\1pm", text)
    text = re.sub(r"\bo'clock\b", "", text)
    return text


def is_phone(text: str) -> bool:
    return sum(c.isdigit() for c in text) >= 7 and not DATE_LIKE.fullmatch(text.strip())


def _phone(match: re.Match) -> str:
    """A phone number is a name ('tel18005550199'), not numbers."""
    return f" tel{re.sub(r'[^0-9]', '', match.group(0))} " if is_phone(match.group(0)) else match.group(0)


@lru_cache(maxsize=4096)
def _alpha2digit(text: str) -> str:
    return alpha2digit(text, "en", threshold=0)


def extract(text: str) -> Extraction:
    found = Extraction(normalise(text))
    for extractor in (_dates, _times, _money, _zero_price, _percents, _weekdays, _month_ends, _durations, _rates,
                      _counts, _ranges):
        extractor(found)
    return found


def stated(found: Extraction) -> list[Quantity]:
    return [q for q in found.quantities if q.kind != "absorbed"]


def _dates(found: Extraction) -> None:
    def date(text: str, year: int, month: int, day: int, readings: tuple = ()) -> Quantity | None:
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return Quantity("date", (year, month, day), (year, month, day), text, readings=readings)

    def numeric(m: re.Match):
        first, second, year = int(m.group(1)), int(m.group(2)), m.group(3)
        year = (2000 + int(year) if len(year) == 2 else int(year)) if year else 0
        valid = [r for r in dict.fromkeys([(year, first, second), (year, second, first)])
                 if 1 <= r[1] <= 12 and 1 <= r[2] <= 31]
        if not valid or m.group(0) == "24/7":
            return None, 0
        return date(m.group(0), *valid[0], readings=tuple(valid)), 0

    weekday = rf"(?:(?:{WEEKDAY})\.?,?\s+(?:the\s+)?)?"
    year = r"(?:,?\s+(\d{4})\b)?"
    found.sub(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b",
              lambda m: (date(m.group(0), int(m.group(1)), int(m.group(2)), int(m.group(3))), 0))
    found.sub(r"\b(\d{4})/(\d{1,2})/(\d{1,2})\b",
              lambda m: (date(m.group(0), int(m.group(1)), int(m.group(2)), int(m.group(3))), 0))
    found.sub(r"(?<![\d/$£€])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])", numeric)
    found.sub(r"(?<![\d.$£€])(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})(?![\d.]\d)", numeric)
    found.sub(rf"\b{weekday}(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH})\b\.?{year}",
              lambda m: (date(m.group(0), int(m.group(3) or 0), MONTHS[m.group(2)], int(m.group(1))), 0))
    found.sub(rf"\b{weekday}({MONTH})\.?\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b(?![:.]?\d){year}",
              lambda m: (date(m.group(0), int(m.group(3) or 0), MONTHS[m.group(1)], int(m.group(2))), 0))


def _times(found: Extraction) -> None:
    def clock(m: re.Match):
        hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
        if half:
            if not 1 <= hour <= 12:
                return None, 0
            hour = hour % 12 + (12 if half == "pm" else 0)
        if hour > 24 or minute > 59:
            return None, 0
        value = float(hour * 60 + minute)
        return Quantity("time", value, value, m.group(0)), 0

    found.sub(r"(?<![\d.,:])\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)\b", clock)
    found.sub(r"(?<![\d.,:§])\b(\d{1,2}):(\d{2})()(?![\d:])", clock)


def _money(found: Extraction) -> None:
    def amount(m: re.Match, currency: str, value: float):
        return Quantity("money", value, value, m.group(0).strip(), frozenset({currency} if currency else ())), 0

    def word_after(m: re.Match):
        word = m.group(2)
        if word.startswith("cent"):
            return amount(m, "", number(m.group(1)) / 100)
        return amount(m, CURRENCY_WORDS[_singular(word)], number(m.group(1)))

    symbols = "".join(map(re.escape, CURRENCY_SYMBOLS))
    found.sub(rf"([{symbols}])\s?({NUMBER})(k\b)?",
              lambda m: amount(m, CURRENCY_SYMBOLS[m.group(1)], number(m.group(2)) * (1000 if m.group(3) else 1)))
    found.sub(rf"\b(usd|eur|gbp|cad|aud|inr|jpy)\s?({NUMBER})\b",
              lambda m: amount(m, CURRENCY_WORDS[m.group(1)], number(m.group(2))))
    found.sub(rf"(?<![\w§.])({NUMBER})\s?(dollars?|bucks?|usd|euros?|eur|pounds?|gbp|quid|yen|jpy|rupees?|inr|cad|"
              rf"aud|cents?)\b", word_after)


def _zero_price(found: Extraction) -> None:
    def free(m: re.Match):
        return Quantity("money", 0.0, 0.0, m.group(0).strip()), 0

    extra = r"(?:extra\s+|additional\s+)?"
    found.sub(rf"\b(?:free\s+of\s+charge|for\s+free|at\s+no\s+{extra}(?:cost|charge)|(?:costs?|charges?)\s+nothing|"
              rf"no\s+{extra}(?:cost|charge)s?)\b", free)
    not_a_price = r"(?!\s+(?:up\s+(?!to\b)|to\s+(?:contact|reach|call|ask)))"
    found.sub(rf"(?<!feel\s)(?<!toll\s)(?<!hands\s)\bfree\b{not_a_price}", free)
    found.sub(r"\b(?:no|not|never|without)\s+(?:[a-z]+\s+){0,3}?(?:fees?|charged?|charges)\b", free)
    found.sub(r"\b(?:fees?|charges?|costs?)\s+(?:is\s+|are\s+|will\s+be\s+)?waived\b|\bwaive\s+(?:the\s+)?(?:fees?|charges?)\b",
              free)


def _percents(found: Extraction) -> None:
    def percent(m: re.Match):
        value = number(m.group(1))
        return Quantity("percent", value, value, m.group(0).strip()), 0

    found.sub(rf"(?<![\w§.])({NUMBER})\s?(?:%|percent\b)", percent)


def _weekdays(found: Extraction) -> None:
    def days(values, m: re.Match):
        values = frozenset(values)
        return Quantity("weekdays", values, values, m.group(0).strip()), 0

    def span(m: re.Match):
        first, last = WEEKDAYS[m.group(1)], WEEKDAYS[m.group(2)]
        return days(range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)], m)

    found.sub(rf"\b({WEEKDAY})\.?\s*(?:to|through|thru|till|until|-)\s*({WEEKDAY})\b\.?", span)
    found.sub(r"\b(?:on\s+)?weekdays?\b", lambda m: days(range(5), m))
    found.sub(r"\b(?:on\s+)?weekends?\b", lambda m: days((5, 6), m))
    found.sub(r"\b7\s+days\s+(?:a|per)\s+week\b|\bevery\s+day\s+of\s+the\s+week\b", lambda m: days(range(7), m))
    found.sub(rf"\b(?:on\s+)?({WEEKDAY})s?\b\.?", lambda m: days({WEEKDAYS[m.group(1)]}, m))


def _month_ends(found: Extraction) -> None:
    """'the last working day of each month', 'the end of the month': a day of the month, like 'the 15th'."""
    found.sub(r"\b(?:the\s+)?(?:(?:last|final)\s+(?:(?:working|business)\s+)?day|end)\s+of\s+(?:the|each|every)\s+month\b",
              lambda m: (Quantity("ordinal", -1.0, -1.0, m.group(0)), 0))


def _durations(found: Extraction) -> None:
    def duration(m: re.Match):
        value = number(m.group(1)) * _days(m.group(2))
        return Quantity("duration", value, value, m.group(0).strip()), 0

    def single(m: re.Match):
        if found.after_quantity(m.start()) or re.search(r"\b(?:once|twice|times)\s*$", found.text[:m.start()]):
            return None, 0
        value = _days(m.group(2))
        return Quantity("duration", value, value, m.group(0).strip()), 0

    def compound(m: re.Match) -> str:
        first, second = found.quantities[int(m.group(1))], found.quantities[int(m.group(2))]
        if not (first.kind == second.kind == "duration") or first.is_range or second.is_range \
                or first.low <= second.low:
            return m.group(0)
        value = first.low + second.low
        found.quantities[int(m.group(2))] = ABSORBED
        found.quantities[int(m.group(1))] = Quantity("duration", value, value, f"{first.text} {second.text}")
        return f"§{m.group(1)} "

    adjectives = r"(?:(?!(?:and|or|to|per|of|a|an|the|in|for|by|from|up|until)\b)[a-z]+\s+){0,2}?"
    found.sub(rf"(?<![\w§.])({NUMBER})(?!st|nd|rd|th)\s*{adjectives}({UNIT})\b", duration)
    found.sub(r"(?<![\w§.])(\d+)(h|m|min)\b", duration)
    found.sub(rf"\b(an?|one)\s+({UNIT})\b", single)
    found.text = re.sub(r"§(\d+)\s+(?:and\s+)?§(\d+)", compound, found.text)


def _days(unit: str) -> float:
    if unit.startswith(("business", "working")):
        return 1.4
    return DAY_UNITS[_singular(unit.split()[-1])]


def _per(phrase: str) -> str:
    """'calendar year' → 'year', 'monthly' → 'month', 'users' → 'user'."""
    word = phrase.split()[-1]
    return _singular(PERIODS.get(word, word))


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 2 and not word.endswith("ss") else word


def _rates(found: Extraction) -> None:
    """'§0 a month', '§0 per user per month', '§0/night', '§0 monthly': what an amount or a duration is per."""
    periods = "|".join(PERIODS)

    def attach(m: re.Match) -> str:
        index = int(m.group(1))
        quantity = found.quantities[index]
        if quantity.kind not in ("money", "duration"):
            return m.group(0)
        per = frozenset(_per(phrase) for phrase in re.split(r"\s*(?:/|\bper\b|\ban?\b|\beach\b|\bevery\b)\s*",
                                                            m.group(2)) if phrase.strip())
        found.quantities[index] = Quantity(quantity.kind, quantity.low, quantity.high, quantity.text,
                                           quantity.unit, per, quantity.readings)
        return f"§{index} "

    per_word = r"\s*(?:/|\bper\b|\ban?\b|\beach\b|\bevery\b)\s*(?!§)(?:(?:calendar|business|working|full)\s+)?[a-z]+"
    found.text = re.sub(rf"§(\d+)((?:{per_word}|\s+(?:{periods})\b)+)", attach, found.text)


def _counts(found: Extraction) -> None:
    """A number with the content words right after it ('3 devices', '100 Mbps'), an ordinal
    ('the 1st of the month'), or a bare number, which keeps the word before it ('Terminal 5')."""
    def count(m: re.Match):
        value = number(m.group(1))
        if m.group(2):
            return Quantity("ordinal", value, value, m.group(0).strip()), 0
        after = []
        for word in (m.group(3) or "").split()[:2]:
            stems = content_stems(word)
            if not stems:
                break
            after += stems
        if after:
            return Quantity("count", value, value, m.group(0).strip(), frozenset(after)), 1
        before = re.findall(r"[a-z]+", found.text[:m.start()])
        return Quantity("number", value, value, m.group(1), frozenset(content_stems(before[-1] if before else ""))), 1

    found.sub(rf"(?<![\w§.*#@/])({NUMBER})(st|nd|rd|th)?(?![\w*#@])((?:\s+(?!§)[a-z][a-z']*){{0,2}})", count)


def _ranges(found: Extraction) -> None:
    def span(m: re.Match) -> str:
        first, second = found.quantities[int(m.group(1))], found.quantities[int(m.group(2))]
        if first.is_range or second.is_range:
            return m.group(0)
        if first.kind == "number" and second.kind != "number":
            first = _read_as(first, second, end=False)
        elif second.kind == "number" and first.kind != "number":
            second = _read_as(second, first, end=True)
        if first is None or second is None or first.kind != second.kind or first.kind in ("date", "weekdays") \
                or (first.kind == "count" and not first.unit & second.unit):
            return m.group(0)
        found.quantities[int(m.group(2))] = ABSORBED
        found.quantities[int(m.group(1))] = Quantity(first.kind, first.low, second.low,
                                                     f"{first.text} to {second.text}", first.unit | second.unit,
                                                     first.per | second.per)
        return f"§{m.group(1)} "

    found.text = re.sub(r"\bbetween\s+§(\d+)\s+and\s+§(\d+)", span, found.text)
    found.text = re.sub(r"(?:\bfrom\s+)?§(\d+)\s*(?:-|\bto\b|\bthrough\b|\bthru\b|\buntil\b|\btill\b)\s*§(\d+)", span,
                        found.text)


def _read_as(bare: Quantity, typed: Quantity, end: bool) -> Quantity | None:
    """'3' in '3 to 5 days', '9' in '9 to 5pm', '5' in '9am to 5': a bare end of a range takes the
    other end's unit (and, for a time, the half of the day that makes the range run forwards)."""
    if typed.kind == "time":
        if not 0 <= bare.low <= 24:
            return None
        minutes = bare.low * 60
        if bare.low < 12 and (minutes <= typed.low if end else minutes + 720 < typed.low):
            minutes += 720
        return Quantity("time", minutes, minutes, bare.text)
    if typed.kind == "duration":
        value = bare.low * typed.low / _surface_number(typed.text)
        return Quantity("duration", value, value, bare.text, per=typed.per)
    return Quantity(typed.kind, bare.low, bare.low, bare.text, typed.unit, typed.per)


def _surface_number(text: str) -> float:
    found = re.search(NUMBER, text)
    return number(found.group(0)) if found and number(found.group(0)) else 1.0


def same(expected: Quantity, answer: Quantity) -> bool:
    """Whether the answer's quantity states the expected one (a bare number may stand for any unit)."""
    if answer.kind == "number" and expected.kind != "number":
        return any(same(expected, reading) for reading in _readings_of_bare(answer, expected))
    if expected.kind == "number" and answer.kind != "number":
        return _surface_number(answer.text) == expected.low and not answer.is_range
    if not comparable(expected, answer):
        return False
    if expected.kind == "money" and expected.unit and answer.unit and expected.unit != answer.unit:
        return False
    if expected.kind == "date":
        return any(_same_date(e, a) for e in (expected.readings or (expected.low,))
                   for a in (answer.readings or (answer.low,)))
    return _close(expected.kind, expected.low, answer.low) and _close(expected.kind, expected.high, answer.high)


def same_number(expected: Quantity, answer: Quantity) -> bool:
    """A count or bare number with the same value, whatever words follow it ('2 fly' for '2 travel')."""
    return expected.kind in ("count", "number") and answer.kind in ("count", "number") \
        and expected.low == answer.low and expected.high == answer.high


def within(expected: Quantity, answer: Quantity) -> bool:
    """A single value inside an expected range ('5 days' for '3 to 5 days'): partly right."""
    return (expected.is_range and not answer.is_range and comparable(expected, answer)
            and expected.kind not in ("date", "weekdays")
            and min(expected.low, expected.high) <= answer.low <= max(expected.low, expected.high))


def comparable(expected: Quantity, answer: Quantity) -> bool:
    """Whether the two speak of the same thing, so that different values contradict each other."""
    if expected.kind == "number" or answer.kind == "number":
        bare, other = (expected, answer) if expected.kind == "number" else (answer, expected)
        if other.kind == "number":
            return not (bare.unit and other.unit) or bool(bare.unit & other.unit)
        return other.is_range and bare.is_range and other.kind == "time"
    if expected.kind != answer.kind:
        return False
    if expected.kind == "money":
        currencies = expected.unit | answer.unit
        if len(currencies) > 1:
            return True
        return not (expected.per and answer.per) or bool(expected.per & answer.per)
    if expected.kind == "count":
        return bool(expected.unit & answer.unit)
    if expected.kind == "duration":
        return not (expected.per and answer.per) or bool(expected.per & answer.per)
    return True


def _close(kind: str, expected, answer) -> bool:
    if kind == "duration":
        return abs(expected - answer) <= 0.025 * max(abs(expected), abs(answer))
    if kind == "weekdays":
        return expected == answer
    return abs(expected - answer) < 0.005


def _same_date(expected: tuple, answer: tuple) -> bool:
    return expected[1:] == answer[1:] and (not expected[0] or not answer[0] or expected[0] == answer[0])


def _readings_of_bare(bare: Quantity, typed: Quantity) -> list[Quantity]:
    if typed.kind == "time":
        hours = {(bare.low, bare.high), (bare.low % 12 + 12, bare.high % 12 + 12), (bare.low, bare.high % 12 + 12)}
        return [Quantity("time", low * 60, high * 60, bare.text) for low, high in hours]
    if typed.kind == "duration":
        scale = typed.low / _surface_number(typed.text) if not typed.is_range else 1.0
        return [Quantity("duration", bare.low * scale, bare.high * scale, bare.text, per=typed.per)]
    if typed.kind in ("date", "weekdays"):
        return []
    return [Quantity(typed.kind, bare.low, bare.high, bare.text, typed.unit, typed.per)]
