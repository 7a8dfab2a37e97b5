"""A request body as standard JSON that the store can keep as it is, or an `InvalidRequest`:

- nested at most `MAX_DEPTH` levels of arrays and objects, counted on the text before it is
  parsed, so a deep body never reaches the parser's recursion (MongoDB keeps at most 100
  levels in a whole document, and a stored body sits a few levels inside one);
- no `NaN`, `Infinity` or `-Infinity`, which Python's parser takes and JSON does not;
- every number finite (`1e999` would be infinity) and every integer within 64 bits (BSON's int64);
- no lone surrogate (`"\\ud800"`), which UTF-8 cannot hold.
"""

import json
import math
import re
from itertools import accumulate
from typing import Any

from shared.contracts.common import INT64
from shared.contracts.errors import InvalidRequest

MAX_DEPTH = 32

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("]"): -1}
_INT64_DIGITS = len(str(INT64[1]))


class _Refused(Exception):
    pass


def parse(raw: bytes) -> Any:
    encoding = json.detect_encoding(raw)
    try:
        text = raw.decode(encoding, "surrogatepass")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"Request body is not valid JSON: {error}") from None
    if too_deep(raw if encoding == "utf-8" else text.encode("utf-8", "surrogatepass")):
        raise InvalidRequest(f"Request body is nested deeper than {MAX_DEPTH} levels of arrays and objects")
    try:
        body = json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_finite)
        if _may_hold_a_surrogate(raw):
            json.dumps(body, ensure_ascii=False).encode()
    except json.JSONDecodeError as error:
        raise InvalidRequest(f"Request body is not valid JSON: {error}") from None
    except _Refused as refused:
        raise InvalidRequest(f"Request body is not storable JSON: {refused}") from None
    except UnicodeEncodeError:
        raise InvalidRequest("Request body holds invalid Unicode (a lone surrogate escape)") from None
    return body


def too_deep(utf8: bytes) -> bool:
    """Whether arrays and objects nest deeper than `MAX_DEPTH` in UTF-8 JSON (brackets inside
    strings do not count). Peels the innermost empty pairs one level at a time, at C speed."""
    brackets = _STRING.sub(b"", utf8).translate(_AS_SQUARE, _NOT_BRACKETS)
    peeled = brackets
    for _ in range(MAX_DEPTH):
        peeled = peeled.replace(b"[]", b"")
        if not peeled:
            return False
    return depth(brackets) > MAX_DEPTH


def depth(brackets: bytes) -> int:
    """How deep a string of `[` and `]` nests."""
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number (standard JSON has no NaN or Infinity)")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        value = int(text)
        if INT64[0] <= value <= INT64[1]:
            return value
    raise _Refused(f"integers must fit in 64 bits ({INT64[0]} to {INT64[1]}): {text[:30]}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"numbers must be finite: {text[:30]}")
    return value


def _may_hold_a_surrogate(raw: bytes) -> bool:
    """False only for ASCII UTF-8 without a `\\u` escape: surrogates come from escapes or
    from other bytes, and UTF-16/32 bodies (which `json.loads` accepts) hold NUL bytes."""
    return b"\\u" in raw or b"\x00" in raw or not raw.isascii()
