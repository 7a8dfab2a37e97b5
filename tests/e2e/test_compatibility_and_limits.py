"""The deprecated Cases interface, rate limits per API key, and failed authentications per
client address."""

import pytest

from tests.conftest import running_stack, workspace_api
from tests.support.raw_http import exchange, request_bytes

pytestmark = pytest.mark.e2e


async def test_cases_behave_as_issues_and_say_they_are_deprecated(api):
    created = await api.post("/api/v2/cases", json={"title": "Old client", "description": "d", "agentId": "a",
                                                   "severity": "low"})
    assert created.status == 201 and created.data["id"].startswith("iss_")
    case_id = created.data["id"]
    for response, successor in (
        (created, "/api/v2/issues"),
        (await api.get("/api/v2/cases"), "/api/v2/issues"),
        (await api.get(f"/api/v2/cases/{case_id}"), f"/api/v2/issues/{case_id}"),
        (await api.patch(f"/api/v2/cases/{case_id}", json={"severity": "high"}), f"/api/v2/issues/{case_id}"),
        (await api.get("/api/v2/cases/iss_missing"), "/api/v2/issues/iss_missing"),
    ):
        assert response.headers["Deprecation"] == "@1754006400"
        assert response.headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert response.headers["Link"] == f'<{successor}>; rel="successor-version"'
    assert (await api.get(f"/api/v2/issues/{case_id}")).data["severity"] == "high"
    assert "Deprecation" not in (await api.get("/api/v2/issues")).headers
    listed = await api.get("/api/v2/cases", params={"severity": "high"})
    assert [case["id"] for case in listed.data] == [case_id]
    assert (await api.get("/api/v2/cases", params={"limit": 0})).status == 400
    assert (await api.delete(f"/api/v2/cases/{case_id}")).body == {"success": True,
                                                                     "message": "Issue deleted successfully"}


async def test_the_successor_link_cannot_be_extended_from_the_request_path(api, stack):
    target = '/api/v2/cases/x>;rel="stylesheet",<https://evil.example/a.css'
    request = request_bytes("GET", target, headers={"Authorization": f"Bearer {api.key}"})
    response = await exchange(stack.base_url, request)
    assert response.status == 404
    assert response.headers.getall("Link") == [
        '</api/v2/issues/x%3E%3Brel%3D%22stylesheet%22%2C%3Chttps%3A//evil.example/a.css>; rel="successor-version"'
    ]


async def test_every_answer_carries_the_rate_limit_headers(api):
    response = await api.get("/api/v2/issues")
    assert int(response.headers["RateLimit-Limit"]) >= int(response.headers["RateLimit-Remaining"]) >= 0
    assert "RateLimit-Reset" in response.headers


@pytest.fixture(scope="module")
async def strict_stack(amqp, mongo, log_dir, mongo_client, namespaces):
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, rate_limit_burst="3",
                             rate_limit_per_second="0.5", auth_failure_burst="3",
                             auth_failure_per_second="0.5") as running:
        yield running


async def test_a_key_past_its_limit_gets_429_with_retry_after(strict_stack, mongo_client, http):
    api = await workspace_api(strict_stack, mongo_client, http)
    other = await workspace_api(strict_stack, mongo_client, http)
    answers = [await api.get("/api/v2/issues") for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.error["code"] == "RATE_LIMITED"
    assert limited.headers["Retry-After"] == "2" and limited.headers["RateLimit-Limit"] == "3"
    assert (await other.get("/api/v2/issues")).status == 200
    assert (await api.get("/healthz", key=None)).status == 200


async def test_errors_carry_the_rate_limit_headers_too(api):
    missing = await api.get("/api/v2/issues/iss_nope")
    invalid = await api.get("/api/v2/issues", params={"limit": 0})
    for response in (missing, invalid):
        assert response.status in (400, 404)
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response.headers)


async def test_an_address_that_keeps_guessing_keys_gets_429_before_any_lookup(strict_stack, mongo_client, http):
    api = await workspace_api(strict_stack, mongo_client, http)
    assert (await api.get("/api/v2/issues")).status == 200
    guesses = [await api.get("/api/v2/issues", key=f"thk_guess{n:030d}") for n in range(4)]
    assert [guess.status for guess in guesses] == [401, 401, 401, 429]
    limited = guesses[-1]
    assert limited.error["code"] == "RATE_LIMITED" and "failed authentications" in limited.error["message"]
    assert limited.headers["Retry-After"] == "2"
    assert (await api.get("/api/v2/issues", key="thk_" + "x" * 40)).status == 429
    assert (await api.get("/api/v2/issues")).status == 200, "a key already known still works"
    assert (await api.get("/api/v2/issues", key=None)).error["code"] == "UNAUTHORIZED"
