"""Webhooks through the running stack, to real local receivers: every public event arrives
signed (verified with the `standardwebhooks` library, as a receiver would), a failing and
hanging receiver ends up with every event exactly once, a delivery service killed while it
retries loses nothing, workspaces never see each other's events, private addresses are refused.
The retry schedule is compressed to seconds by the delivery service's settings."""

import asyncio
import uuid
from collections import deque

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deploy.local.demo_model import Fault
from shared.contracts.envelope import Envelope
from shared.contracts.issues import AttachTraces
from shared.messaging.asking import send
from shared.messaging.commands import CommandContext
from tests.conftest import HOOK_TIMEOUT_SECONDS, workspace_api
from tests.e2e.test_shadow_tests import a_trace, finished, marker, setup, start_test
from tests.support.bus import rpc_client
from tests.support.waiting import eventually
from tests.support.webhook_receiver import HANG, Receiver

pytestmark = pytest.mark.e2e

PUBLIC_EVENTS = ["issue.created", "issue.updated", "issue.regressed", "issue.deleted", "fix.status_changed",
                 "shadow_test.completed", "shadow_test.failed"]


@pytest.fixture
async def receiver():
    running = await Receiver(hang_seconds=3 * HOOK_TIMEOUT_SECONDS).start()
    yield running
    await running.stop()


async def subscribe(api, url: str, event_types: list[str] = PUBLIC_EVENTS, **fields) -> dict:
    response = await api.post("/api/webhooks", json={"url": url, "eventTypes": event_types, **fields})
    assert response.status == 201, response.body
    return response.data


async def arrived(receiver: Receiver, count: int, what: str, timeout: float = 30) -> None:
    await eventually(lambda: len(receiver.distinct()) >= count, timeout, what)


async def test_endpoints_are_created_listed_changed_and_deleted_with_the_secret_shown_once(hooks_api, receiver):
    created = await subscribe(hooks_api, receiver.url, ["issue.created"], description="CI job")
    assert created["id"].startswith("wh_") and created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["description"] == "CI job"
    one = await hooks_api.get(f"/api/webhooks/{created['id']}")
    assert one.status == 200 and "secret" not in one.data and one.data["eventTypes"] == ["issue.created"]
    listed = await hooks_api.get("/api/webhooks")
    assert [w["id"] for w in listed.data] == [created["id"]] and "secret" not in listed.data[0]

    changed = await hooks_api.patch(f"/api/webhooks/{created['id']}",
                                    json={"enabled": False, "eventTypes": ["issue.created", "issue.deleted"]})
    assert changed.status == 200 and changed.data["enabled"] is False
    assert changed.data["eventTypes"] == ["issue.created", "issue.deleted"]
    rotated = await hooks_api.post(f"/api/webhooks/{created['id']}/rotate-secret")
    assert rotated.status == 200 and rotated.data["secret"].startswith("whsec_")
    assert rotated.data["secret"] != created["secret"]

    assert (await hooks_api.delete(f"/api/webhooks/{created['id']}")).status == 200
    gone = await hooks_api.get(f"/api/webhooks/{created['id']}")
    assert gone.status == 404 and gone.error["code"] == "NOT_FOUND"
    assert (await hooks_api.get("/api/webhooks")).data == []


async def test_bad_endpoints_are_refused_in_the_error_envelope(hooks_api):
    for body, field in [({"url": "ftp://example.com/x", "eventTypes": ["issue.created"]}, "url"),
                        ({"url": "https://example.com/x", "eventTypes": []}, "eventTypes"),
                        ({"url": "https://example.com/x", "eventTypes": ["issue.exploded"]}, "eventTypes.0"),
                        ({"url": "https://example.com/x", "eventTypes": ["issue.created"], "enabled": 0}, "enabled"),
                        ({"url": "https://ex\u0085ample.com/", "eventTypes": ["issue.created"]}, "url"),
                        ({"url": "https://user:pw@example.com/x", "eventTypes": ["issue.created"]}, None)]:
        response = await hooks_api.post("/api/webhooks", json=body)
        assert response.status == 400, (body, response.body)
        assert response.error["code"] == "VALIDATION_ERROR"
        if field:
            assert field in [d["field"] for d in response.error["details"]], response.body
    missing = await hooks_api.patch("/api/webhooks/wh_nothere", json={"enabled": True})
    assert missing.status == 404 and missing.error["code"] == "NOT_FOUND"


async def test_every_public_event_arrives_signed_and_verifies(hooks_api, hooks_stack, receiver, fake_model):
    endpoint = await subscribe(hooks_api, receiver.url)
    m = marker()
    traces = [a_trace(m, n) for n in range(3)]
    issue, fix = await setup(hooks_api, traces)
    await hooks_api.patch(f"/api/v2/issues/{issue['id']}", json={"severity": "critical"})
    assert (await hooks_api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})).status == 200
    completed = await finished(hooks_api, (await start_test(hooks_api, fix, traces))["id"])
    assert completed["status"] == "completed"
    fake_model.fail(f"[{m}]", *[Fault(delay=1.0)] * 3)
    stopping = await start_test(hooks_api, fix, traces)
    await hooks_api.patch(f"/api/shadow-tests/{stopping['id']}", json={"status": "failed"})

    async def fix_testing():
        return (await hooks_api.get(f"/api/fixes/{fix['id']}")).data["status"] == "testing"

    await eventually(fix_testing, 15, "the shadow test to move the fix to testing")
    assert (await hooks_api.patch(f"/api/fixes/{fix['id']}", json={"status": "applied"})).status == 200
    await hooks_api.issue_when(issue["id"], lambda i: i["status"] == "closed", "the applied fix to close it")
    async with rpc_client(hooks_stack) as (rpc, _connection):
        ctx = CommandContext.of(Envelope(message_id=uuid.uuid4().hex, type="traces.ingested",
                                         workspace=hooks_api.workspace, correlation_id="corr-back",
                                         payload={}))
        await send(rpc, AttachTraces(issue_id=issue["id"], trace_ids=["tr_back_1"]), ctx, timeout=10,
                   purpose="attach")
    await hooks_api.issue_when(issue["id"], lambda i: i["status"] == "open", "the regression to reopen it")
    other = await hooks_api.create_issue()
    assert (await hooks_api.delete(f"/api/v2/issues/{other['id']}")).status == 200

    await eventually(lambda: set(PUBLIC_EVENTS) <= {r.event["type"] for r in receiver.requests}, 60,
                     "every public event type to arrive")
    verified = receiver.verified(endpoint["secret"])
    assert {event["type"] for event in verified} == set(PUBLIC_EVENTS)
    assert all(event["workspace"] == hooks_api.workspace for event in verified)
    shipped = receiver.events_of_type("shadow_test.completed")[0]["data"]
    assert shipped["test"]["id"] == completed["id"] and shipped["test"]["results"]["recommendation"] is not None
    tampered = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(tampered.body + b" ", tampered.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(tampered.body, tampered.headers)
    statuses = [e["data"]["newStatus"] for e in receiver.events_of_type("fix.status_changed")]
    assert statuses == ["proposed", "testing", "applied"], "one resource's events arrive in order"


async def test_a_failing_then_hanging_receiver_gets_every_event_exactly_once(hooks_api, receiver):
    endpoint = await subscribe(hooks_api, receiver.url, ["issue.created", "issue.updated"])
    receiver.script = deque([500, 500, HANG, 503, HANG])
    issues = [await hooks_api.create_issue(title=f"Issue {n}") for n in range(4)]
    for issue in issues:
        await hooks_api.patch(f"/api/v2/issues/{issue['id']}", json={"severity": "low"})
    await arrived(receiver, 8, "the eight events")

    async def all_succeeded():
        listed = await hooks_api.get(f"/api/webhooks/{endpoint['id']}/deliveries", params={"limit": 100})
        return listed.data if all(d["status"] == "succeeded" for d in listed.data) and len(listed.data) == 8 \
            else None

    deliveries = await eventually(all_succeeded, 60, "every delivery to succeed")
    assert len(receiver.requests) > 8, "some were tried again"
    kept = receiver.distinct()
    assert sorted(kept) == sorted(d["id"] for d in deliveries)
    assert sorted((r.event["type"], r.event["data"]["issue"]["id"]) for r in kept.values()) == sorted(
        (t, i["id"]) for i in issues for t in ("issue.created", "issue.updated"))
    retried = [d for d in deliveries if d["attemptCount"] > 1]
    assert retried
    failed = [a for d in retried for a in d["attempts"] if a["outcome"] == "failed"]
    assert {a["responseStatus"] for a in failed} >= {500, None}
    assert any("timed out" in (a["error"] or "") for a in failed)
    assert any("failing with 500" in (a["responseSnippet"] or "") for a in failed)
    for issue in issues:
        mine = [r.event["type"] for r in sorted(kept.values(), key=lambda r: r.at)
                if r.event["data"]["issue"]["id"] == issue["id"]]
        assert mine == ["issue.created", "issue.updated"], "one resource's events arrive in order"


async def test_a_delivery_service_killed_while_retrying_loses_nothing(hooks_api, hooks_stack, receiver):
    await subscribe(hooks_api, receiver.url, ["issue.created"])
    receiver.script = deque([500] * 9)
    issues = [await hooks_api.create_issue(title=f"Issue {n}") for n in range(3)]
    endpoint = (await hooks_api.get("/api/webhooks")).data[0]

    async def retrying():
        listed = (await hooks_api.get(f"/api/webhooks/{endpoint['id']}/deliveries")).data
        return len([d for d in listed if d["status"] == "pending" and d["attemptCount"] >= 1]) == 3

    await eventually(retrying, 30, "all three deliveries to wait for a retry")
    hooks_stack.kill("delivery")
    more = [await hooks_api.create_issue(title=f"Later {n}") for n in range(2)]
    await asyncio.sleep(0)
    hooks_stack.start("delivery")
    await arrived(receiver, 5, "every event once the service is back", timeout=60)
    delivered = {r.event["data"]["issue"]["id"] for r in receiver.distinct().values()}
    assert delivered == {i["id"] for i in issues + more}

    async def all_succeeded():
        listed = (await hooks_api.get(f"/api/webhooks/{endpoint['id']}/deliveries")).data
        return len(listed) == 5 and all(d["status"] == "succeeded" for d in listed)

    await eventually(all_succeeded, 30, "every delivery to be recorded as succeeded")


async def test_another_workspace_never_sees_an_event(hooks_api, hooks_stack, mongo_client, http):
    mine, theirs = await Receiver().start(), await Receiver().start()
    try:
        other_api = await workspace_api(hooks_stack, mongo_client, http)
        await subscribe(hooks_api, mine.url, ["issue.created"])
        await subscribe(other_api, theirs.url, ["issue.created"])
        created = [await hooks_api.create_issue(title=f"Mine {n}") for n in range(3)]
        theirs_created = await other_api.create_issue(title="Theirs")
        await arrived(mine, 3, "my events")
        await arrived(theirs, 1, "their event")
        assert {r.event["data"]["issue"]["id"] for r in mine.requests} == {i["id"] for i in created}
        assert {r.event["data"]["issue"]["id"] for r in theirs.requests} == {theirs_created["id"]}
        foreign = await other_api.get(f"/api/webhooks/{(await hooks_api.get('/api/webhooks')).data[0]['id']}")
        assert foreign.status == 404
    finally:
        await mine.stop()
        await theirs.stop()


async def test_private_addresses_are_refused_unless_allowed(api):
    for url in ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/x", "http://169.254.169.254/",
                "http://[::1]/x", "http://[::ffff:192.168.0.1]/x", "https://0.0.0.0/x"]:
        response = await api.post("/api/webhooks", json={"url": url, "eventTypes": ["issue.created"]})
        assert response.status == 403, (url, response.body)
        assert response.error["code"] == "FORBIDDEN" and "WEBHOOK_ALLOW_PRIVATE" in response.error["message"]
    assert (await api.get("/api/webhooks")).data == []


async def test_an_endpoint_failing_too_long_is_disabled_saying_so_and_a_delivery_can_be_resent(hooks_api):
    failing, watching = await Receiver().start(), await Receiver().start()
    try:
        broken = await subscribe(hooks_api, failing.url, ["issue.created"])
        failing.script = deque([500] * 100)
        owner = await subscribe(hooks_api, watching.url, ["webhook.endpoint_disabled"])
        issue = await hooks_api.create_issue()
        await arrived(watching, 1, "the endpoint-disabled event", timeout=60)
        [disabled] = watching.verified(owner["secret"])
        assert disabled["type"] == "webhook.endpoint_disabled"
        assert disabled["data"]["webhook"]["id"] == broken["id"] and disabled["data"]["webhook"]["enabled"] is False
        assert "failed for" in disabled["data"]["reason"]
        now = (await hooks_api.get(f"/api/webhooks/{broken['id']}")).data
        assert now["enabled"] is False and now["disabledReason"] == disabled["data"]["reason"]

        async def gave_up():
            [delivery] = (await hooks_api.get(f"/api/webhooks/{broken['id']}/deliveries")).data
            return delivery if delivery["status"] == "failed" else None

        delivery = await eventually(gave_up, 30, "the delivery to fail for good")
        assert delivery["attemptCount"] >= 5 and all(a["outcome"] == "failed" for a in delivery["attempts"])
        assert delivery["attempts"][0]["responseStatus"] == 500 and delivery["resourceId"] == issue["id"]
        attempts_before = len(failing.requests)
        assert attempts_before == delivery["attemptCount"]

        busy = await hooks_api.post(f"/api/webhooks/{broken['id']}/deliveries/msg_unknown/resend")
        assert busy.status == 404 and busy.error["code"] == "NOT_FOUND"
        failing.script.clear()
        assert (await hooks_api.patch(f"/api/webhooks/{broken['id']}", json={"enabled": True})).data["enabled"]
        resent = await hooks_api.post(f"/api/webhooks/{broken['id']}/deliveries/{delivery['id']}/resend")
        assert resent.status == 202 and resent.data["status"] == "pending"

        async def succeeded():
            [again] = (await hooks_api.get(f"/api/webhooks/{broken['id']}/deliveries")).data
            return again if again["status"] == "succeeded" else None

        again = await eventually(succeeded, 30, "the resent delivery to succeed")
        assert again["attemptCount"] == delivery["attemptCount"] + 1
        assert failing.requests[-1].webhook_id == delivery["id"], "a resend keeps its webhook-id"
        assert failing.verified(broken["secret"])[-1]["data"]["issue"]["id"] == issue["id"]
    finally:
        await failing.stop()
        await watching.stop()


async def test_a_rotated_secret_and_the_one_before_both_verify_for_a_day(hooks_api, receiver):
    endpoint = await subscribe(hooks_api, receiver.url, ["issue.created"])
    rotated = (await hooks_api.post(f"/api/webhooks/{endpoint['id']}/rotate-secret")).data
    await hooks_api.create_issue()
    await arrived(receiver, 1, "the event")
    assert receiver.verified(rotated["secret"]) == receiver.verified(endpoint["secret"])
    assert len(receiver.requests[0].headers["webhook-signature"].split(" ")) == 2
