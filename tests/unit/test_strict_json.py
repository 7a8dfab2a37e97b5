import json

import pytest

from services.gateway.entrypoints.http.strict_json import MAX_DEPTH, parse
from shared.contracts.errors import InvalidRequest


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_nesting_up_to_the_limit_parses_and_one_more_level_is_refused(encoding):
    assert parse(nested(MAX_DEPTH).encode(encoding)) is not None
    with pytest.raises(InvalidRequest, match=f"deeper than {MAX_DEPTH} levels"):
        parse(nested(MAX_DEPTH + 1).encode(encoding))


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"a": ["[" * 100 + '\\"{' * 50, '"]]]]"', "\\"]})
    assert parse(text.encode())["a"][0].startswith("[[[")
    mixed = '{"a": ' * (MAX_DEPTH - 1) + '["x\\"[[[[", {}]' + "}" * (MAX_DEPTH - 1)
    with pytest.raises(InvalidRequest, match="levels"):
        parse(mixed.encode())


def test_a_body_that_does_not_close_is_invalid_json_not_too_deep():
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        parse(b'{"a": [1, 2')


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"t": NaN}', "NaN is not a JSON number"),
        (b'{"t": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"t": 1e999}', "numbers must be finite"),
        (b'{"n": 9223372036854775808}', "integers must fit in 64 bits"),
        (b'{"n": -9223372036854775809}', "integers must fit in 64 bits"),
        (b'{"n": ' + b"1" * 5000 + b"}", "integers must fit in 64 bits"),
        (b'{"s": "\\ud800"}', "lone surrogate"),
    ],
)
def test_what_json_or_the_store_cannot_hold_is_refused(body, says):
    with pytest.raises(InvalidRequest, match=says):
        parse(body)


def test_the_int64_bounds_themselves_are_kept():
    assert parse(b'{"n": [9223372036854775807, -9223372036854775808, 1.5e300]}')["n"][:2] == [2**63 - 1, -(2**63)]
