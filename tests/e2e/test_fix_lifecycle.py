"""Fix events drive the issue: the heart of the design, against the running services."""

from datetime import UTC, datetime

import aio_pika
import pytest

from shared.contracts.envelope import Envelope
from shared.contracts.fixes import FixUpdated, FixView
from shared.messaging.topology import Topology
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def move(api, fix_id: str, status: str) -> None:
    response = await api.patch(f"/api/fixes/{fix_id}", json={"status": status})
    assert response.status == 200, response.body


async def test_an_issue_follows_its_fix_from_open_to_closed(api):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    known = await api.issue_when(issue["id"], lambda i: i["fixes"], "the issue to learn of its fix")
    assert known["fixes"] == [{"id": fix["id"], "type": "prompt_update", "status": "draft"}]
    assert known["status"] == "open"
    for fix_status, issue_status in (("proposed", "proposed_fix"), ("testing", "testing"), ("applied", "closed")):
        await move(api, fix["id"], fix_status)
        followed = await api.issue_when(issue["id"], lambda i, want=issue_status: i["status"] == want, issue_status)
        assert followed["fixes"][0]["status"] == fix_status


async def test_rejecting_the_only_active_fix_reopens_the_issue(api):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    await move(api, fix["id"], "proposed")
    await api.issue_when(issue["id"], lambda i: i["status"] == "proposed_fix", "issue proposed_fix")
    await move(api, fix["id"], "rejected")
    reopened = await api.issue_when(issue["id"], lambda i: i["status"] == "open", "the issue to reopen")
    assert reopened["fixes"][0]["status"] == "rejected"


async def test_a_manual_status_stands_until_the_next_fix_status_change(api):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    await move(api, fix["id"], "proposed")
    await api.issue_when(issue["id"], lambda i: i["status"] == "proposed_fix", "issue proposed_fix")
    manual = (await api.patch(f"/api/v2/issues/{issue['id']}", json={"status": "closed"})).data
    await api.patch(f"/api/fixes/{fix['id']}", json={"description": "reworded"})
    await api.issue_when(issue["id"], lambda i: i["updatedAt"] > manual["updatedAt"], "news of the reworded fix")
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).data["status"] == "closed"
    await move(api, fix["id"], "testing")
    await api.issue_when(issue["id"], lambda i: i["status"] == "testing", "the fix to take over again")


async def test_deleting_an_issue_detaches_its_fixes(api):
    issue = await api.create_issue()
    fixes = [await api.create_fix(issue["id"]) for _ in range(2)]
    assert (await api.delete(f"/api/v2/issues/{issue['id']}")).status == 200

    async def detached():
        found = [(await api.get(f"/api/fixes/{fix['id']}")).data for fix in fixes]
        return all(fix["issueId"] is None for fix in found) and found

    kept = await eventually(detached, 15, "the fixes to be detached")
    assert [fix["status"] for fix in kept] == ["draft", "draft"]
    assert (await api.get("/api/fixes", params={"issueId": issue["id"]})).data == []


async def test_a_fix_for_a_deleted_issue_cannot_be_created(api):
    """The issue is gone before the fix is asked for; an issue deleted while its fix is being
    created is tests/unit/test_fix_creation_races.py."""
    issue = await api.create_issue()
    await api.delete(f"/api/v2/issues/{issue['id']}")
    response = await api.post("/api/fixes", json={"issueId": issue["id"], "type": "config_change",
                                                  "description": "d", "changes": {"temperature": 0.1}})
    assert response.status == 404


@pytest.fixture
async def fix_events(stack, amqp):
    """Publishes fix events as the fixes service would, and records the issue events that follow."""
    connection = await aio_pika.connect(amqp)
    channel = await connection.channel(publisher_confirms=True)
    topology = Topology(stack.namespace)
    fixes_exchange = await channel.get_exchange(topology.events_exchange("fixes"))
    issue_updates = await channel.declare_queue(exclusive=True)
    await issue_updates.bind(topology.events_exchange("issues"), routing_key="issue.updated")

    class Bus:
        async def publish(self, envelope: Envelope) -> None:
            await fixes_exchange.publish(aio_pika.Message(envelope.to_bytes(), message_id=envelope.message_id),
                                         routing_key=envelope.type)

        async def issue_updates_of(self, issue_id: str) -> list[dict]:
            found = []
            while (message := await issue_updates.get(fail=False)) is not None:
                await message.ack()
                payload = Envelope.from_bytes(message.body).payload
                if payload["issue"]["id"] == issue_id:
                    found.append(payload)
            return found

    yield Bus()
    await connection.close()


def fix_event(workspace: str, issue: dict, status: str, version: int, message_id: str) -> Envelope:
    fix = FixView(id="fix_crafted0000000", issue_id=issue["id"], type="config_change", status=status,
                  description="d", changes={"temperature": 0.1}, author="tester",
                  created_at=issue["createdAt"], updated_at=issue["createdAt"])
    event = FixUpdated(fix=fix, version=version, changed_fields=["status"], status_version=version,
                       status_changed_at=datetime.now(UTC))
    return Envelope(message_id=message_id, type=event.routing_key, workspace=workspace, correlation_id="t",
                    payload=event.to_wire())


async def test_a_duplicated_fix_event_is_applied_once(api, fix_events, workspace):
    issue = await api.create_issue()
    duplicate = fix_event(workspace, issue, "proposed", 2, "evt-dup")
    await fix_events.publish(duplicate)
    await fix_events.publish(duplicate)
    await fix_events.publish(fix_event(workspace, issue, "testing", 3, "evt-next"))
    await api.issue_when(issue["id"], lambda i: i["status"] == "testing", "the later event to be applied")
    updates = []

    async def all_updates_seen():
        updates.extend(await fix_events.issue_updates_of(issue["id"]))
        return len(updates) >= 2

    await eventually(all_updates_seen, 10, "issue.updated events")
    assert [u["issue"]["status"] for u in updates] == ["proposed_fix", "testing"]
    assert [u["version"] for u in updates] == [2, 3]


async def test_out_of_order_fix_events_end_in_the_newest_state(api, fix_events, workspace):
    issue = await api.create_issue()
    await fix_events.publish(fix_event(workspace, issue, "testing", 3, "evt-newer"))
    await fix_events.publish(fix_event(workspace, issue, "proposed", 2, "evt-older"))
    await fix_events.publish(fix_event(workspace, issue, "testing", 3, "evt-newer-again"))
    settled = await api.issue_when(issue["id"], lambda i: i["status"] == "testing", "the newer event")
    updates = []

    async def seen():
        updates.extend(await fix_events.issue_updates_of(issue["id"]))
        return updates

    await eventually(seen, 10, "the issue update")
    assert settled["fixes"] == [{"id": "fix_crafted0000000", "type": "config_change", "status": "testing"}]
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).data["status"] == "testing"
    assert [u["version"] for u in updates] == [2]


async def test_fix_events_queued_while_the_issues_service_is_down_are_applied_after_restart(api, stack):
    issue = await api.create_issue()
    fix = await api.create_fix(issue["id"])
    await api.issue_when(issue["id"], lambda i: i["fixes"], "the issue to learn of its fix")
    stack.kill("issues")
    try:
        for status in ("proposed", "testing", "applied"):
            response = await api.patch(f"/api/fixes/{fix['id']}", json={"status": status})
            assert response.status == 200
    finally:
        stack.start("issues")
    closed = await api.issue_when(issue["id"], lambda i: i["status"] == "closed", "the queued events to apply")
    assert closed["fixes"] == [{"id": fix["id"], "type": "prompt_update", "status": "applied"}]
