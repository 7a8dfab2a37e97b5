"""The Fixes API as a user sees it."""

import re

import pytest

from tests.conftest import workspace_api

pytestmark = pytest.mark.e2e

FIX_FIELDS = {"id", "issueId", "type", "status", "description", "changes", "author", "createdAt", "updatedAt",
              "statusHistory"}


async def test_create_get_list_and_patch_have_the_documented_shapes(api):
    issue = await api.create_issue()
    response = await api.post("/api/fixes", json={
        "issueId": issue["id"],
        "type": "prompt_update",
        "description": "Add grounding instruction to prevent hallucinated feature claims",
        "changes": {"promptDiff": "- Help customers.\n+ Help customers. Only describe documented features."},
    })
    assert response.status == 201
    created = response.data
    assert set(created) == FIX_FIELDS | {"shadowTests"}
    assert re.fullmatch(r"fix_[a-z0-9]{16}", created["id"])
    assert (created["status"], created["issueId"], created["shadowTests"]) == ("draft", issue["id"], [])
    assert created["author"].startswith("key_")

    fetched = await api.get(f"/api/fixes/{created['id']}")
    assert fetched.data == created

    listed = await api.get("/api/fixes", params={"issueId": issue["id"]})
    assert [set(item) for item in listed.data] == [FIX_FIELDS]
    assert listed.body["pagination"] == {"page": 1, "limit": 20, "total": 1, "hasMore": False}

    patched = await api.patch(f"/api/fixes/{created['id']}",
                              json={"status": "proposed", "description": "Stricter grounding"})
    assert patched.status == 200
    assert (patched.data["status"], patched.data["description"]) == ("proposed", "Stricter grounding")
    assert patched.data["updatedAt"] > created["updatedAt"]


async def test_list_filters_by_issue_status_and_type(api):
    first, second = await api.create_issue(), await api.create_issue()
    prompt = await api.create_fix(first["id"])
    config = await api.create_fix(first["id"], type="config_change", changes={"temperature": 0.1})
    other = await api.create_fix(second["id"])
    await api.patch(f"/api/fixes/{config['id']}", json={"status": "proposed"})

    async def ids(**params):
        return [fix["id"] for fix in (await api.get("/api/fixes", params=params)).data]

    assert await ids(issueId=first["id"]) == [config["id"], prompt["id"]]
    assert await ids(status="proposed") == [config["id"]]
    assert await ids(type="prompt_update") == [other["id"], prompt["id"]]
    assert await ids(issueId=first["id"], type="prompt_update", status="draft") == [prompt["id"]]
    bad = await api.get("/api/fixes", params={"type": "magic"})
    assert bad.status == 400 and bad.error["details"][0]["field"] == "type"


async def test_a_fix_needs_an_issue_of_the_callers_workspace(api, stack, mongo_client, http):
    other = await workspace_api(stack, mongo_client, http)
    theirs = await other.create_issue()
    missing = await api.post("/api/fixes", json={"issueId": theirs["id"], "type": "config_change",
                                                 "description": "d", "changes": {"temperature": 0.1}})
    assert missing.status == 404
    assert missing.error == {"code": "NOT_FOUND", "message": f"Issue {theirs['id']} not found"}
    fix = await other.create_fix(theirs["id"])
    assert (await api.get(f"/api/fixes/{fix['id']}")).status == 404
    assert (await api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})).status == 404
    assert (await api.get("/api/fixes")).data == []


@pytest.mark.parametrize("fix_type, changes, field", [
    ("prompt_update", {"promptDiff": "no prefix"}, "changes.promptDiff"),
    ("config_change", {"temperature": 7}, "changes.temperature"),
    ("retrieval_update", {"add": [{"id": "doc"}]}, "changes.add.0.content"),
    ("guardrail", {"rule": "block_pattern", "pattern": "[", "fallback": "x"}, "changes.pattern"),
])
async def test_changes_that_do_not_fit_their_type_are_400_naming_the_field(api, fix_type, changes, field):
    issue = await api.create_issue()
    response = await api.post("/api/fixes", json={"issueId": issue["id"], "type": fix_type, "description": "d",
                                                  "changes": changes})
    assert response.status == 400
    assert response.error["code"] == "VALIDATION_ERROR"
    assert field in [detail["field"] for detail in response.error["details"]]
    assert (await api.get("/api/fixes")).data == []


async def test_a_guardrail_pattern_re2_cannot_compile_is_400_on_create_and_on_patch(api):
    issue = await api.create_issue()
    backreference = {"rule": "block_pattern", "pattern": r"(\w+) \1", "fallback": "Let me check."}
    refused = await api.post("/api/fixes", json={"issueId": issue["id"], "type": "guardrail", "description": "d",
                                                 "changes": backreference})
    assert refused.status == 400 and refused.error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in refused.error["details"]] == ["changes.pattern"]
    assert "RE2 syntax" in refused.error["message"] and "backreferences" in refused.error["message"]
    assert (await api.get("/api/fixes")).data == []

    fix = await api.create_fix(issue["id"], type="guardrail", changes={**backreference, "pattern": r"\b60 days\b"})
    lookahead = await api.patch(f"/api/fixes/{fix['id']}",
                                json={"changes": {**backreference, "pattern": "60(?= days)"}})
    assert lookahead.status == 400 and "RE2 syntax" in lookahead.error["message"]
    assert (await api.get(f"/api/fixes/{fix['id']}")).data["changes"]["pattern"] == r"\b60 days\b"


async def test_forbidden_transitions_are_409_saying_from_what_to_what(api):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    skip = await api.patch(f"/api/fixes/{fix['id']}", json={"status": "applied"})
    assert skip.status == 409
    assert skip.error["code"] == "CONFLICT"
    assert "from draft to applied" in skip.error["message"]
    await api.patch(f"/api/fixes/{fix['id']}", json={"status": "rejected"})
    final = await api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})
    assert final.status == 409 and "from rejected to proposed" in final.error["message"]
    unchanged = await api.get(f"/api/fixes/{fix['id']}")
    assert unchanged.data["status"] == "rejected"


async def test_changes_are_checked_against_the_fixs_type_on_patch(api):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"], type="config_change", changes={"temperature": 0.1})
    wrong = await api.patch(f"/api/fixes/{fix['id']}", json={"changes": {"promptDiff": "- a\n+ b"}})
    assert wrong.status == 400 and "changes.promptDiff" in [d["field"] for d in wrong.error["details"]]
    right = await api.patch(f"/api/fixes/{fix['id']}", json={"changes": {"temperature": 0.3, "maxTokens": 256}})
    assert right.data["changes"] == {"temperature": 0.3, "maxTokens": 256}


async def test_idempotent_fix_creation(api):
    issue = await api.create_issue()
    body = {"issueId": issue["id"], "type": "config_change", "description": "d", "changes": {"temperature": 0.1}}
    first = await api.post("/api/fixes", json=body, headers={"Idempotency-Key": "fix-once"})
    again = await api.post("/api/fixes", json=body, headers={"Idempotency-Key": "fix-once"})
    assert first.status == again.status == 201
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    assert len((await api.get("/api/fixes")).data) == 1


async def test_a_fixs_status_history_lists_each_status_entered_with_its_time_in_get_and_list(api):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    assert fix["statusHistory"] == [{"status": "draft", "enteredAt": fix["createdAt"]}]
    moved = {}
    for status in ("proposed", "testing", "proposed", "testing", "applied"):
        response = await api.patch(f"/api/fixes/{fix['id']}", json={"status": status})
        assert response.status == 200, response.body
        moved = response.data
    await api.patch(f"/api/fixes/{fix['id']}", json={"description": "Reworded, not moved"})

    fetched = (await api.get(f"/api/fixes/{fix['id']}")).data
    history = fetched["statusHistory"]
    assert [entry["status"] for entry in history] == ["draft", "proposed", "testing", "proposed", "testing", "applied"]
    assert [entry["enteredAt"] for entry in history] == sorted(entry["enteredAt"] for entry in history)
    assert history[-1]["enteredAt"] == moved["updatedAt"] and moved["statusHistory"] == history
    listed = (await api.get("/api/fixes", params={"issueId": issue["id"]})).data
    assert [item["statusHistory"] for item in listed] == [history]
