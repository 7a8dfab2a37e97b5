"""The Issues API as a user sees it: HTTP to the gateway, RabbitMQ to the service, MongoDB."""

import re

import pytest

from tests.conftest import workspace_api
from tests.support.output import COMMAND_HANDLED, REQUEST_HANDLED, records
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SUMMARY_FIELDS = {"id", "title", "description", "severity", "status", "traceCount", "agentId", "agentName",
                  "tags", "createdAt", "updatedAt", "source"}


async def test_create_returns_the_documented_shape(api):
    response = await api.post("/api/v2/issues", json={
        "title": "Shipping estimate miscalculations",
        "description": "Agent understates international transit time",
        "agentId": "agent_abc123",
        "severity": "medium",
        "traceIds": ["tr_x1y2z3", "tr_m4n5o6", "tr_p7q8r9", "tr_x1y2z3"],
        "tags": ["shipping", "international", "estimates"],
    })
    assert response.status == 201
    assert response.body["success"] is True
    issue = response.data
    assert set(issue) == SUMMARY_FIELDS
    assert re.fullmatch(r"iss_[a-z0-9]{16}", issue["id"])
    assert issue["status"] == "open"
    assert issue["traceCount"] == 3
    assert issue["tags"] == ["shipping", "international", "estimates"]
    assert TIMESTAMP.match(issue["createdAt"]) and issue["createdAt"] == issue["updatedAt"]
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


async def test_get_returns_detail_with_trace_ids_fixes_and_metadata(api):
    created = await api.create_issue(traceIds=["tr_1", "tr_2", "tr_1"], agentName="Support Bot")
    response = await api.get(f"/api/v2/issues/{created['id']}")
    assert response.status == 200
    issue = response.data
    assert set(issue) == SUMMARY_FIELDS | {"traceIds", "fixes", "metadata"}
    assert issue["traceIds"] == ["tr_1", "tr_2"]
    assert issue["agentName"] == "Support Bot"
    assert issue["fixes"] == []
    assert issue["metadata"] == {"firstSeenAt": None, "lastSeenAt": None, "affectedCustomers": 0,
                                 "clusterConfidence": None, "regressedAt": None, "regressionCount": 0}
    assert issue["source"] == "manual"


async def test_filters_by_agent_status_and_severity(api):
    wanted = await api.create_issue(agentId="agent_a", severity="high")
    await api.create_issue(agentId="agent_b", severity="high")
    await api.create_issue(agentId="agent_a", severity="low")
    closed = await api.create_issue(agentId="agent_a", severity="high")
    await api.patch(f"/api/v2/issues/{closed['id']}", json={"status": "closed"})

    response = await api.get("/api/v2/issues", params={"agentId": "agent_a", "severity": "high", "status": "open"})
    assert [issue["id"] for issue in response.data] == [wanted["id"]]
    assert response.body["pagination"] == {"page": 1, "limit": 20, "total": 1, "hasMore": False}

    by_status = await api.get("/api/v2/issues", params={"status": "closed"})
    assert [issue["id"] for issue in by_status.data] == [closed["id"]]


async def test_sorts_by_created_at_newest_first_by_default(api):
    ids = [(await api.create_issue(title=f"issue {n}"))["id"] for n in range(3)]
    default = await api.get("/api/v2/issues")
    assert [issue["id"] for issue in default.data] == ids[::-1]
    ascending = await api.get("/api/v2/issues", params={"sortBy": "createdAt", "sortOrder": "asc"})
    assert [issue["id"] for issue in ascending.data] == ids


async def test_sorts_by_severity_rank_not_alphabet(api):
    for severity in ("medium", "critical", "low", "high"):
        await api.create_issue(severity=severity)
    descending = await api.get("/api/v2/issues", params={"sortBy": "severity"})
    assert [issue["severity"] for issue in descending.data] == ["critical", "high", "medium", "low"]
    ascending = await api.get("/api/v2/issues", params={"sortBy": "severity", "sortOrder": "asc"})
    assert [issue["severity"] for issue in ascending.data] == ["low", "medium", "high", "critical"]


async def test_sorts_by_trace_count(api):
    for count in (2, 0, 3, 1):
        await api.create_issue(traceIds=[f"tr_{n}" for n in range(count)])
    descending = await api.get("/api/v2/issues", params={"sortBy": "traceCount"})
    assert [issue["traceCount"] for issue in descending.data] == [3, 2, 1, 0]
    ascending = await api.get("/api/v2/issues", params={"sortBy": "traceCount", "sortOrder": "asc"})
    assert [issue["traceCount"] for issue in ascending.data] == [0, 1, 2, 3]


async def test_pagination_edges(api):
    ids = [(await api.create_issue(title=f"issue {n}"))["id"] for n in range(5)]
    newest_first = ids[::-1]

    first = await api.get("/api/v2/issues", params={"limit": 2})
    assert [issue["id"] for issue in first.data] == newest_first[:2]
    assert first.body["pagination"] == {"page": 1, "limit": 2, "total": 5, "hasMore": True}

    last = await api.get("/api/v2/issues", params={"limit": 2, "page": 3})
    assert [issue["id"] for issue in last.data] == newest_first[4:]
    assert last.body["pagination"] == {"page": 3, "limit": 2, "total": 5, "hasMore": False}

    exact = await api.get("/api/v2/issues", params={"limit": 5})
    assert exact.body["pagination"]["hasMore"] is False

    beyond = await api.get("/api/v2/issues", params={"limit": 2, "page": 4})
    assert beyond.status == 200 and beyond.data == []
    assert beyond.body["pagination"] == {"page": 4, "limit": 2, "total": 5, "hasMore": False}

    pages = [await api.get("/api/v2/issues", params={"limit": 2, "page": page}) for page in (1, 2, 3)]
    assert [issue["id"] for page in pages for issue in page.data] == newest_first


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"page": "0"}, "page"),
    ({"sortBy": "title"}, "sortBy"),
    ({"sortOrder": "up"}, "sortOrder"),
    ({"status": "resolved"}, "status"),
    ({"severity": "urgent"}, "severity"),
    ({"colour": "red"}, "colour"),
])
async def test_bad_query_parameters_are_named(api, params, field):
    response = await api.get("/api/v2/issues", params=params)
    assert response.status == 400
    assert response.error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in response.error["details"]] == [field]
    assert field in response.error["message"]


async def test_partial_patch_changes_only_given_fields(api):
    created = await api.create_issue(title="Original", severity="medium", tags=["a"])
    response = await api.patch(f"/api/v2/issues/{created['id']}",
                               json={"severity": "high", "status": "proposed_fix", "tags": ["a", "escalated"]})
    assert response.status == 200
    patched = response.data
    assert patched["severity"] == "high"
    assert patched["status"] == "proposed_fix"
    assert patched["tags"] == ["a", "escalated"]
    assert patched["title"] == "Original"
    assert patched["description"] == created["description"]
    assert patched["updatedAt"] > created["updatedAt"]
    assert patched["createdAt"] == created["createdAt"]
    stored = (await api.get(f"/api/v2/issues/{created['id']}")).data
    assert {key: stored[key] for key in patched} == patched


@pytest.mark.parametrize("body, field", [
    ({"severity": "urgent"}, "severity"),
    ({"status": "done"}, "status"),
    ({"title": ""}, "title"),
    ({"title": 42}, "title"),
    ({"tags": "a,b"}, "tags"),
    ({"tags": ["ok", ""]}, "tags.1"),
    ({"agentId": "other"}, "agentId"),
    ({"traceCount": 3}, "traceCount"),
])
async def test_patch_rejects_bad_values_and_unknown_fields(api, body, field):
    created = await api.create_issue()
    response = await api.patch(f"/api/v2/issues/{created['id']}", json=body)
    assert response.status == 400
    assert response.error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in response.error["details"]] == [field]
    unchanged = (await api.get(f"/api/v2/issues/{created['id']}")).data
    assert unchanged["updatedAt"] == created["updatedAt"]


async def test_patch_with_nothing_or_nulls_is_rejected(api):
    created = await api.create_issue()
    empty = await api.patch(f"/api/v2/issues/{created['id']}", json={})
    assert empty.status == 400 and "at least one" in empty.error["message"]
    nulls = await api.patch(f"/api/v2/issues/{created['id']}", json={"title": None, "tags": None})
    assert nulls.status == 400
    assert [(d["field"], d["message"]) for d in nulls.error["details"]] == [
        ("title", "cannot be null; leave the field out to keep it as it is"),
        ("tags", "cannot be null; leave the field out to keep it as it is"),
    ]


async def test_only_the_documented_camel_case_names_are_accepted(api):
    body = await api.post("/api/v2/issues", json={"title": "t", "description": "d", "agent_id": "a",
                                                   "severity": "low"})
    assert body.status == 400
    assert {d["field"] for d in body.error["details"]} == {"agentId", "agent_id"}
    query = await api.get("/api/v2/issues", params={"sort_by": "severity"})
    assert query.status == 400 and query.error["details"][0]["field"] == "sort_by"


async def test_an_id_too_long_to_exist_is_a_clear_400(api):
    for call in (api.get, api.delete):
        response = await call("/api/v2/issues/iss_" + "a" * 200)
        assert response.status == 400
        assert response.error["details"][0]["field"] == "issueId"


@pytest.mark.parametrize("body, fields", [
    ({}, ["title", "description", "agentId", "severity"]),
    ({"title": "t", "description": "d", "agentId": "a", "severity": "severe"}, ["severity"]),
    ({"title": "t", "description": "d", "agentId": "a", "severity": "low", "traceIds": "tr_1"}, ["traceIds"]),
    ({"title": "t", "description": "d", "agentId": "a", "severity": "low", "traceIds": ["has space"]}, ["traceIds.0"]),
    ({"title": "t", "description": "d", "agentId": "a", "severity": "low", "status": "closed"}, ["status"]),
    ({"title": "x" * 201, "description": "d", "agentId": "a", "severity": "low"}, ["title"]),
    ({"title": "t", "description": "d", "agentId": 7, "severity": "low"}, ["agentId"]),
])
async def test_create_validation_names_each_field(api, body, fields):
    response = await api.post("/api/v2/issues", json=body)
    assert response.status == 400
    assert response.error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in response.error["details"]] == fields
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 0


LONE_SURROGATE = '{"title": "\\ud800", "description": "d", "agentId": "a", "severity": "low"}'


@pytest.mark.parametrize("raw, message", [
    (b'{"title": ', "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"", "empty"),
    (b"\xff\xfe", "not valid JSON"),
    (LONE_SURROGATE.encode(), "lone surrogate"),
    (LONE_SURROGATE.encode("utf-16-le"), "lone surrogate"),
])
async def test_malformed_bodies_get_the_error_envelope(api, raw, message):
    response = await api.post("/api/v2/issues", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert response.error["code"] == "VALIDATION_ERROR"
    assert message in response.error["message"]


async def test_oversized_body_is_413_in_the_envelope(api):
    response = await api.post("/api/v2/issues", data=b"{" + b" " * (4 * 1024 * 1024) + b"}")
    assert response.status == 413
    assert response.error["code"] == "PAYLOAD_TOO_LARGE"


async def test_unknown_routes_and_wrong_methods(api):
    missing = await api.get("/api/v2/nothing")
    assert missing.status == 404 and missing.error["code"] == "NOT_FOUND"
    wrong = await api.request("PUT", "/api/v2/issues")
    assert wrong.status == 405 and wrong.error["code"] == "METHOD_NOT_ALLOWED"
    assert wrong.headers["Allow"] == "GET, POST"
    outside = await api.get("/nothing", key=None)
    assert outside.status == 404 and outside.error["code"] == "NOT_FOUND"
    unknown_without_key = await api.get("/api/v2/nothing", key=None)
    assert unknown_without_key.status == 404
    known_without_key = await api.get("/api/v2/issues", key=None)
    assert known_without_key.status == 401


async def assert_not_found_by_any_call(api, issue_id: str) -> None:
    """Reading, changing and deleting the issue all answer 404, naming it."""
    url = f"/api/v2/issues/{issue_id}"
    for call in (api.get(url), api.patch(url, json={"title": "changed"}), api.delete(url)):
        response = await call
        assert response.status == 404
        assert response.error == {"code": "NOT_FOUND", "message": f"Issue {issue_id} not found"}


async def test_delete_then_gone_everywhere(api):
    created = await api.create_issue()
    response = await api.delete(f"/api/v2/issues/{created['id']}")
    assert response.status == 200
    assert response.body == {"success": True, "message": "Issue deleted successfully"}
    await assert_not_found_by_any_call(api, created["id"])
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 0


async def test_missing_or_unknown_key_is_401(api):
    for key in (None, "thk_notarealkeynotarealkey", "not-even-a-key"):
        response = await api.get("/api/v2/issues", key=key)
        assert response.status == 401
        assert response.error["code"] == "UNAUTHORIZED"
    wrong_scheme = await api.get("/api/v2/issues", key=None, headers={"Authorization": f"Basic {api.key}"})
    assert wrong_scheme.status == 401


async def test_workspaces_cannot_see_each_other(api, stack, mongo_client, http):
    other = await workspace_api(stack, mongo_client, http)
    mine = await api.create_issue(title="mine")
    theirs = await other.create_issue(title="theirs")

    assert [issue["id"] for issue in (await api.get("/api/v2/issues")).data] == [mine["id"]]
    assert [issue["id"] for issue in (await other.get("/api/v2/issues")).data] == [theirs["id"]]
    await assert_not_found_by_any_call(other, mine["id"])
    assert (await api.get(f"/api/v2/issues/{mine['id']}")).data["title"] == "mine"


async def test_idempotency_key_replays_the_first_response(api):
    body = {"title": "t", "description": "d", "agentId": "a", "severity": "low"}
    headers = {"Idempotency-Key": "create-once-7f3a"}
    first = await api.post("/api/v2/issues", json=body, headers=headers)
    again = await api.post("/api/v2/issues", json=body, headers=headers)
    assert first.status == again.status == 201
    assert again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 1

    different = await api.post("/api/v2/issues", json={**body, "title": "other"}, headers=headers)
    assert different.status == 409 and different.error["code"] == "CONFLICT"
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 1


async def test_same_idempotency_key_in_two_workspaces_creates_two(api, stack, mongo_client, http):
    other = await workspace_api(stack, mongo_client, http)
    body = {"title": "t", "description": "d", "agentId": "a", "severity": "low"}
    headers = {"Idempotency-Key": "shared-key"}
    mine = await api.post("/api/v2/issues", json=body, headers=headers)
    theirs = await other.post("/api/v2/issues", json=body, headers=headers)
    assert mine.status == theirs.status == 201
    assert mine.data["id"] != theirs.data["id"]


async def test_request_id_is_echoed_and_reaches_the_service_logs(api, stack):
    response = await api.get("/api/v2/issues", headers={"X-Request-Id": "trace-me-123"})
    assert response.headers["X-Request-Id"] == "trace-me-123"
    handled = await eventually(lambda: records(stack.log_lines("issues"), correlation_id="trace-me-123",
                                               event=COMMAND_HANDLED),
                               10, "the issues service to log the request's correlation id")
    assert [(line["level"], line["command_type"], line["outcome"]) for line in handled] == [
        ("info", "issues.list_issues", "ok")]
    gateway_lines = records(stack.log_lines("gateway"), correlation_id="trace-me-123")
    assert [(line["event"], line["level"], line["path"], line["status"]) for line in gateway_lines] == [
        (REQUEST_HANDLED, "info", "/api/v2/issues", 200)]
    assert all(api.key not in str(line) for line in stack.log_lines("gateway"))


async def test_health_and_readiness(api):
    health = await api.get("/healthz", key=None)
    assert health.status == 200 and health.body == {"status": "ok"}
    ready = await api.get("/readyz", key=None)
    assert ready.status == 200
    assert ready.body == {"status": "ready", "checks": {"broker": "ok", "store": "ok"}}
