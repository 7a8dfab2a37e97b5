"""Bad input at the gateway's edge: each request is refused with a 4xx in the error envelope,
and nothing is stored or dead-lettered. Every row is sent as raw bytes, exactly as a careless or
hostile client would send it."""

import json
from dataclasses import dataclass, field

import aio_pika
import pytest

from tests.support.raw_http import exchange, request_bytes

pytestmark = pytest.mark.e2e

ISSUE = b"ISSUE_ID"
DEPTH_LIMIT = 32


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    target: str
    body: bytes = b""
    status: int = 400
    code: str = "VALIDATION_ERROR"
    says: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


def nested(depth: int, leaf: str = "1") -> str:
    """A JSON value `depth` levels deep: arrays within arrays around `leaf`."""
    return "[" * depth + leaf + "]" * depth


def fix(changes: str, fix_type: str = "config_change") -> bytes:
    return (f'{{"issueId": "ISSUE_ID", "type": "{fix_type}", "description": "probe", '
            f'"changes": {changes}}}').encode()


def trace(fields: str) -> bytes:
    return ('{"traces": [{"agentId": "a", "model": {"name": "m"}, "input": [{"role": "user", "content": "hi"}], '
            f'"output": "o"{fields}}}]}}').encode()


def issue(fields: str) -> bytes:
    return f'{{"title": "t", "description": "d", "agentId": "a", "severity": "low"{fields}}}'.encode()


LONG_TARGET = "/api/v2/issues?agentId=" + "a" * 20_000
PROBES = [
    # 7: nesting deeper than the documented limit, checked before parsing
    Probe("array-20000-deep", "POST", "/api/v2/issues", nested(20_000).encode(), says=f"{DEPTH_LIMIT} levels"),
    Probe("object-20000-deep", "POST", "/api/v2/traces",
          ('{"a": ' * 20_000 + "1" + "}" * 20_000).encode(), says=f"{DEPTH_LIMIT} levels"),
    Probe("trace-metadata-250-deep", "POST", "/api/v2/traces", trace(f', "metadata": {{"m": {nested(250)}}}'),
          says=f"{DEPTH_LIMIT} levels"),
    Probe("trace-metadata-200-deep", "POST", "/api/v2/traces", trace(f', "metadata": {{"m": {nested(200)}}}'),
          says=f"{DEPTH_LIMIT} levels"),
    Probe("one-level-past-the-limit", "POST", "/api/v2/issues", issue(f', "tags": {nested(DEPTH_LIMIT, "")}'),
          says=f"{DEPTH_LIMIT} levels"),
    # 8: integers a 64-bit store cannot hold
    Probe("seed-beyond-64-bits", "POST", "/api/fixes", fix(f'{{"seed": {2**64}}}'), says="64"),
    Probe("seed-below-64-bits", "POST", "/api/fixes", fix(f'{{"seed": {-(2**63) - 1}}}'), says="64"),
    Probe("guardrail-max-length-beyond-64-bits", "POST", "/api/fixes",
          fix(f'{{"rule": "max_length", "maxLength": {2**70}, "fallback": "f"}}', "guardrail"), says="64"),
    Probe("trace-metadata-beyond-64-bits", "POST", "/api/v2/traces", trace(f', "metadata": {{"n": {2**64}}}'),
          says="64"),
    Probe("integer-of-5000-digits", "POST", "/api/v2/issues", issue(', "tags": [' + "9" * 5000 + "]"), says="64"),
    # 9: dates that overflow once moved to UTC
    Probe("from-year-1-with-an-offset", "GET", "/api/v2/traces?from=0001-01-01T00:00:00%2B01:00", says="from"),
    Probe("to-year-9999-with-an-offset", "GET", "/api/v2/traces?to=9999-12-31T23:59:59-01:00", says="to"),
    Probe("trace-timestamp-year-1-with-an-offset", "POST", "/api/v2/traces",
          trace(', "timestamp": "0001-01-01T00:00:00+01:00"'), says="timestamp"),
    # 10: non-standard JSON constants and numbers that are not finite
    Probe("temperature-nan", "POST", "/api/fixes", fix('{"temperature": NaN}'), says="NaN"),
    Probe("temperature-infinity", "POST", "/api/fixes", fix('{"temperature": Infinity}'), says="Infinity"),
    Probe("penalty-minus-infinity", "POST", "/api/fixes", fix('{"presencePenalty": -Infinity}'), says="Infinity"),
    Probe("model-parameter-nan", "POST", "/api/v2/traces", trace(', "model": {"name": "m", "parameters": {"t": NaN}}'),
          says="NaN"),
    Probe("feedback-score-overflowing-to-infinity", "POST", "/api/v2/traces", trace(', "feedback": {"score": 1e999}'),
          says="finite"),
    Probe("config-change-of-nulls-only", "POST", "/api/fixes", fix('{"temperature": null}'), says="changes"),
    # 19: timestamps are ISO-8601 strings, never numbers
    Probe("to-as-a-number", "GET", "/api/v2/traces?to=0.5", says="to"),
    Probe("from-as-unix-time", "GET", "/api/v2/traces?from=1700000000", says="from"),
    Probe("trace-timestamp-as-a-number", "POST", "/api/v2/traces", trace(', "timestamp": 1700000000'),
          says="timestamp"),
    # 11: requests aiohttp's HTTP parser refuses before any handler runs
    Probe("request-line-over-the-limit", "GET", LONG_TARGET, status=414, code="URI_TOO_LONG", says="16384"),
    Probe("header-over-the-limit", "GET", "/api/v2/issues", headers={"X-Big": "v" * 9000}, status=431,
          code="HEADERS_TOO_LARGE", says="8190"),
    Probe("too-many-headers", "GET", "/api/v2/issues", headers={f"X-H{i}": "v" for i in range(200)}, status=431,
          code="HEADERS_TOO_LARGE", says="headers"),
    Probe("malformed-request-line", "", "", raw=b"GARBAGE\r\n\r\n", says="Malformed"),
    Probe("unknown-http-version", "", "", raw=b"GET /api/v2/issues HTTP/9.9\r\nHost: x\r\n\r\n", says="Malformed"),
]


async def stored(api) -> dict[str, int]:
    totals = {}
    for path in ("/api/v2/issues", "/api/fixes", "/api/v2/traces"):
        response = await api.get(path)
        totals[path] = response.body["pagination"]["total"]
    return totals


async def dead_letters(stack) -> int:
    connection = await aio_pika.connect(stack.amqp_url)
    try:
        channel = await connection.channel()
        total = 0
        for service in ("issues", "fixes", "traces", "shadow_runner"):
            queue = await channel.declare_queue(f"{stack.namespace}.{service}.commands.dead", passive=True)
            total += queue.declaration_result.message_count
        return total
    finally:
        await connection.close()


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
async def test_bad_input_is_refused_in_the_envelope_and_stores_nothing(probe: Probe, api, stack):
    body = probe.body
    if ISSUE in body:
        body = body.replace(ISSUE, (await api.create_issue())["id"].encode())
    before, dead_before = await stored(api), await dead_letters(stack)
    request = probe.raw or request_bytes(probe.method, probe.target, body,
                                         {"Authorization": f"Bearer {api.key}", **probe.headers})
    response = await exchange(stack.base_url, request)
    assert response.status == probe.status, response.body[:2000]
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    envelope = response.json()
    assert envelope["success"] is False and envelope["error"]["code"] == probe.code, envelope
    assert probe.says in envelope["error"]["message"], envelope
    assert await stored(api) == before
    assert await dead_letters(stack) == dead_before


async def test_a_body_nested_to_the_limit_with_64_bit_integers_is_stored_as_sent(api, stack):
    deepest = nested(DEPTH_LIMIT - 4, str(2**63 - 1))
    body = trace(f', "id": "tr_deep", "metadata": {{"m": {deepest}, "text": "[[[{{{{ \\" ]]"}}')
    response = await exchange(stack.base_url, request_bytes("POST", "/api/v2/traces", body,
                                                            {"Authorization": f"Bearer {api.key}"}))
    assert response.status == 201, response.body[:2000]
    stored = (await api.get("/api/v2/traces/tr_deep")).data["metadata"]
    assert stored == {"m": json.loads(deepest), "text": '[[[{{ " ]]'}
