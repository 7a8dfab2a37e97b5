"""ETag and If-Match on issues and fixes: a client that read a resource changes it only if
nobody changed it since, so concurrent read-modify-write loops lose nothing."""

import asyncio
import re

import pytest

pytestmark = pytest.mark.e2e

STRONG_ETAG = re.compile(r'^"[^"]+"$')
ISSUES = ["/api/v2/issues", "/api/v2/cases"]


@pytest.mark.parametrize("base", ISSUES)
async def test_twenty_clients_appending_a_tag_each_keep_all_twenty(api, base):
    issue = await api.create_issue(tags=["start"])
    url = f"{base}/{issue['id']}"
    refusals = []

    async def append(tag: str) -> None:
        for _ in range(40):
            read = await api.get(url)
            assert read.status == 200, read.body
            changed = await api.patch(url, json={"tags": [*read.data["tags"], tag]},
                                      headers={"If-Match": read.headers["ETag"]})
            if changed.status == 200:
                return
            assert changed.status == 412, changed.body
            refusals.append(changed.error["code"])
        raise AssertionError(f"{tag} was refused 40 times")

    tags = [f"client-{n}" for n in range(20)]
    await asyncio.gather(*(append(tag) for tag in tags))
    kept = (await api.get(url)).data["tags"]
    assert sorted(kept) == sorted(["start", *tags]), f"kept {len(kept) - 1} of 20"
    assert set(refusals) <= {"PRECONDITION_FAILED"}


async def created_read_and_changed(api, collection: str, body: dict, change: dict):
    """Creates a resource in `collection`, reads it, and changes it with the ETag it read:
    the ETag is strong, read as created, moved by the change and read as moved. The resource's
    URL, the read and the change."""
    created = await api.post(collection, json=body)
    assert created.status == 201 and STRONG_ETAG.match(created.headers["ETag"])
    url = f"{collection}/{created.data['id']}"
    read = await api.get(url)
    assert read.headers["ETag"] == created.headers["ETag"]
    changed = await api.patch(url, json=change, headers={"If-Match": read.headers["ETag"]})
    assert changed.status == 200 and {key: changed.data[key] for key in change} == change
    assert STRONG_ETAG.match(changed.headers["ETag"]) and changed.headers["ETag"] != read.headers["ETag"]
    assert (await api.get(url)).headers["ETag"] == changed.headers["ETag"]
    return url, read, changed


@pytest.mark.parametrize("base", ISSUES)
async def test_an_issue_carries_an_etag_that_every_change_moves(api, base):
    body = {"title": "t", "description": "d", "agentId": "a", "severity": "low"}
    url, _, patched = await created_read_and_changed(api, base, body, {"title": "new"})
    unconditional = await api.patch(url, json={"title": "newer"})
    assert unconditional.status == 200 and unconditional.headers["ETag"] != patched.headers["ETag"]


@pytest.mark.parametrize("base", ISSUES)
async def test_a_stale_if_match_is_412_and_changes_nothing(api, base):
    issue = await api.create_issue(title="original", tags=["a"])
    url = f"{base}/{issue['id']}"
    stale = (await api.get(url)).headers["ETag"]
    current = (await api.patch(url, json={"tags": ["a", "theirs"]})).headers["ETag"]
    before = (await api.get(url)).data

    refused = await api.patch(url, json={"title": "mine", "tags": ["a", "mine"]}, headers={"If-Match": stale})
    assert refused.status == 412
    assert refused.error["code"] == "PRECONDITION_FAILED"
    assert refused.error["message"].startswith(f"Issue {issue['id']} changed since it was read")
    assert f"current ETag is {current}" in refused.error["message"]
    assert "ETag" not in refused.headers
    for tag in ('W/' + current, '"not-ours"', f'{stale}, "999999"'):
        assert (await api.patch(url, json={"title": "mine"}, headers={"If-Match": tag})).status == 412
    assert (await api.get(url)).data == before

    listed = await api.patch(url, json={"title": "mine"}, headers={"If-Match": f'{stale}, {current}'})
    assert listed.status == 200 and listed.data["title"] == "mine"


@pytest.mark.parametrize("base", ISSUES)
async def test_if_match_star_changes_any_existing_issue_and_not_a_missing_one(api, base):
    issue = await api.create_issue()
    await api.patch(f"{base}/{issue['id']}", json={"title": "moved on"})
    star = await api.patch(f"{base}/{issue['id']}", json={"title": "mine"}, headers={"If-Match": "*"})
    assert star.status == 200 and star.data["title"] == "mine"
    assert (await api.get(f"{base}/{issue['id']}")).headers["ETag"] == star.headers["ETag"]
    missing = await api.patch(f"{base}/iss_0000000000000000", json={"title": "x"}, headers={"If-Match": "*"})
    assert missing.status == 404 and missing.error["code"] == "NOT_FOUND"
    stale_missing = await api.delete(f"{base}/iss_0000000000000000", headers={"If-Match": '"1"'})
    assert stale_missing.status == 404


@pytest.mark.parametrize("value", ["3", "'3'", '"3', '*, "3"', 'w/"3"', '"3" "4"', ",", ""])
async def test_a_malformed_if_match_matches_nothing_and_changes_nothing(api, value):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    for url, body in ((f"/api/v2/issues/{issue['id']}", {"title": "x"}), (f"/api/v2/cases/{issue['id']}", None),
                      (f"/api/fixes/{fix['id']}", {"description": "x"})):
        response = await (api.patch(url, json=body, headers={"If-Match": value}) if body
                          else api.delete(url, headers={"If-Match": value}))
        assert response.status == 412, (url, response.body)
        assert response.error["code"] == "PRECONDITION_FAILED"
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).data["title"] == issue["title"]
    assert (await api.get(f"/api/fixes/{fix['id']}")).data["description"] == fix["description"]


@pytest.mark.parametrize("base", ISSUES)
async def test_a_delete_with_a_stale_if_match_is_412_and_the_issue_stays(api, base):
    issue = await api.create_issue()
    url = f"{base}/{issue['id']}"
    stale = (await api.get(url)).headers["ETag"]
    current = (await api.patch(url, json={"severity": "critical"})).headers["ETag"]
    refused = await api.delete(url, headers={"If-Match": stale})
    assert refused.status == 412 and refused.error["code"] == "PRECONDITION_FAILED"
    assert f"current ETag is {current}" in refused.error["message"]
    assert (await api.get(url)).status == 200
    deleted = await api.delete(url, headers={"If-Match": current})
    assert deleted.status == 200
    assert (await api.get(url)).status == 404


async def test_a_fix_carries_an_etag_and_a_stale_if_match_is_412(api):
    issue = await api.create_issue()
    body = {"issueId": issue["id"], "type": "config_change", "description": "d", "changes": {"temperature": 0.1}}
    url, read, proposed = await created_read_and_changed(api, "/api/fixes", body, {"status": "proposed"})

    refused = await api.patch(url, json={"status": "rejected"}, headers={"If-Match": read.headers["ETag"]})
    assert refused.status == 412 and refused.error["code"] == "PRECONDITION_FAILED"
    assert refused.error["message"].startswith(f"Fix {proposed.data['id']} changed since it was read")
    assert f"current ETag is {proposed.headers['ETag']}" in refused.error["message"]
    assert (await api.get(url)).data["status"] == "proposed"

    star = await api.patch(url, json={"description": "sharper"}, headers={"If-Match": "*"})
    assert star.status == 200 and star.data["description"] == "sharper"


async def test_an_idempotent_replay_answers_the_first_etag(api):
    body = {"title": "t", "description": "d", "agentId": "a", "severity": "low"}
    first = await api.post("/api/v2/issues", json=body, headers={"Idempotency-Key": "etag-replay"})
    await api.patch(f"/api/v2/issues/{first.data['id']}", json={"title": "changed"})
    again = await api.post("/api/v2/issues", json=body, headers={"Idempotency-Key": "etag-replay"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.body, again.headers["ETag"]) == (first.body, first.headers["ETag"])
    stale = await api.patch(f"/api/v2/issues/{first.data['id']}", json={"title": "mine"},
                            headers={"If-Match": again.headers["ETag"]})
    assert stale.status == 412


async def test_the_openapi_document_describes_etag_if_match_and_412(api):
    paths = (await api.get("/api/openapi.json", key=None)).body["paths"]
    conditional = {("patch", "/api/v2/issues/{issueId}"), ("delete", "/api/v2/issues/{issueId}"),
                   ("patch", "/api/v2/cases/{issueId}"), ("delete", "/api/v2/cases/{issueId}"),
                   ("patch", "/api/fixes/{fixId}"), ("patch", "/api/v2/clustering-settings")}
    tagged = {("post", "/api/v2/issues"), ("get", "/api/v2/issues/{issueId}"), ("patch", "/api/v2/issues/{issueId}"),
              ("post", "/api/v2/cases"), ("get", "/api/v2/cases/{issueId}"), ("patch", "/api/v2/cases/{issueId}"),
              ("post", "/api/fixes"), ("get", "/api/fixes/{fixId}"), ("patch", "/api/fixes/{fixId}"),
              ("get", "/api/v2/clustering-settings"), ("patch", "/api/v2/clustering-settings")}
    for path, operations in paths.items():
        for method, operation in operations.items():
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            success = next(response for status, response in operation["responses"].items() if status.startswith("2"))
            assert ("If-Match" in headers) == ((method, path) in conditional), (method, path)
            assert ("412" in operation["responses"]) == ((method, path) in conditional), (method, path)
            assert ("ETag" in success.get("headers", {})) == ((method, path) in tagged), (method, path)
    refused = paths["/api/fixes/{fixId}"]["patch"]["responses"]["412"]
    assert "PRECONDITION_FAILED" in refused["description"]
