"""What the bus promises, checked against the running processes and the real broker."""

import aio_pika
import pytest

from shared.contracts.envelope import Envelope, Reply
from shared.contracts.issues import CreateIssue, IssuePatch, UpdateIssue
from shared.messaging.topology import Topology
from tests.conftest import running_stack, workspace_api
from tests.support.bus import rpc_client
from tests.support.infrastructure import broker_endpoint, through
from tests.support.metrics import sample
from tests.support.output import COMMAND_HANDLED, records
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bus(stack):
    async with rpc_client(stack) as (rpc, connection):
        yield rpc, connection


def envelope_for(api_workspace: str, command, message_id: str) -> Envelope:
    return Envelope(message_id=message_id, type=command.message_type, workspace=api_workspace,
                    correlation_id=f"test-{message_id}", payload=command.to_wire())


async def test_a_duplicated_create_command_creates_one_issue(api, bus, workspace):
    rpc, _ = bus
    command = CreateIssue(title="t", description="d", agent_id="a", severity="low")
    envelope = envelope_for(workspace, command, "dup-create-1")

    first = await rpc.call("issues", envelope, timeout=10)
    second = await rpc.call("issues", envelope, timeout=10)

    assert first.ok and second.ok
    assert second.data == {**first.data, "replayed": True}
    assert first.data["replayed"] is False
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 1


async def test_a_duplicated_update_command_is_applied_once(api, bus, stack, workspace):
    rpc, connection = bus
    issue = await api.create_issue(tags=["start"])
    channel = await connection.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(Topology(stack.namespace).events_exchange("issues"), routing_key="issue.updated")
    command = UpdateIssue(issue_id=issue["id"], patch=IssuePatch(tags=["start", "once"]))
    envelope = envelope_for(workspace, command, "dup-update-1")

    first = await rpc.call("issues", envelope, timeout=10)
    second = await rpc.call("issues", envelope, timeout=10)
    marker = await api.patch(f"/api/v2/issues/{issue['id']}", json={"title": "marker"})

    assert first.ok and second.ok and marker.status == 200
    assert second.data == first.data
    received = []

    async def both_events_arrived():
        while (message := await events.get(fail=False)) is not None:
            received.append(Envelope.from_bytes(message.body))
            await message.ack()
        return len(received) >= 2

    await eventually(both_events_arrived, 10, "issue.updated events")
    versions = [event.payload["version"] for event in received if event.payload["issue"]["id"] == issue["id"]]
    assert versions == [2, 3]
    assert received[0].payload["changedFields"] == ["tags"]


async def issue_updates(connection, stack):
    channel = await connection.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(Topology(stack.namespace).events_exchange("issues"), routing_key="issue.updated")
    return events


async def received_until(events, issue_id: str, version: int) -> list[Envelope]:
    """The `issue.updated` events of the issue, up to the one at `version`."""
    received = []

    async def arrived():
        while (message := await events.get(fail=False)) is not None:
            received.append(Envelope.from_bytes(message.body))
            await message.ack()
        return any(event.payload["version"] == version for event in received)

    await eventually(arrived, 10, f"issue.updated at version {version}")
    return [event for event in received if event.payload["issue"]["id"] == issue_id]


async def test_a_patch_that_changes_nothing_keeps_the_etag_and_emits_no_event(api, bus, stack):
    _, connection = bus
    issue = await api.create_issue(title="Same", tags=["a"])
    events = await issue_updates(connection, stack)
    same = await api.patch(f"/api/v2/issues/{issue['id']}", json={"title": "Same", "tags": ["a"]})
    assert (same.status, same.headers["ETag"], same.data["updatedAt"]) == (200, '"1"', issue["updatedAt"])
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).headers["ETag"] == '"1"'
    marker = await api.patch(f"/api/v2/issues/{issue['id']}", json={"title": "marker"})
    assert marker.headers["ETag"] == '"2"'
    received = await received_until(events, issue["id"], 2)
    assert [(event.payload["version"], event.payload["changedFields"]) for event in received] == [(2, ["title"])]


async def test_an_update_command_redelivered_after_sixty_others_is_not_applied_again(api, bus, stack, workspace):
    rpc, connection = bus
    issue = await api.create_issue(tags=["start"])
    events = await issue_updates(connection, stack)
    envelope = envelope_for(workspace, UpdateIssue(issue_id=issue["id"], patch=IssuePatch(tags=["first"])),
                            "late-update-1")
    assert (await rpc.call("issues", envelope, timeout=10)).ok
    for n in range(60):
        assert (await api.patch(f"/api/v2/issues/{issue['id']}", json={"tags": [f"t{n}"]})).status == 200
    again = await rpc.call("issues", envelope, timeout=10)
    assert again.ok and again.data["issue"]["tags"] == ["t59"]
    read = await api.get(f"/api/v2/issues/{issue['id']}")
    assert (read.data["tags"], read.headers["ETag"]) == (["t59"], '"62"')
    marker = await api.patch(f"/api/v2/issues/{issue['id']}", json={"title": "marker"})
    assert marker.headers["ETag"] == '"63"'
    received = await received_until(events, issue["id"], 63)
    assert [event.payload["version"] for event in received] == list(range(2, 64))


async def test_a_command_redelivered_after_its_consumer_died_is_applied_once(api, stack, amqp, workspace):
    topology = Topology(stack.namespace)
    stack.stop("issues")
    try:
        connection = await aio_pika.connect(amqp)
        channel = await connection.channel()
        replies = await channel.declare_queue(exclusive=True)
        command = CreateIssue(title="redelivered", description="d", agent_id="a", severity="low")
        await channel.default_exchange.publish(
            aio_pika.Message(envelope_for(workspace, command, "redeliver-1").to_bytes(), reply_to=replies.name,
                             correlation_id="c1", message_id="redeliver-1"),
            routing_key=topology.command_queue("issues"),
        )
        dying_consumer = await connection.channel()
        queue = await dying_consumer.get_queue(topology.command_queue("issues"), ensure=False)
        taken = await eventually(lambda: queue.get(fail=False), 10, "the command to be taken")
        assert not taken.redelivered
        await dying_consumer.close()
    finally:
        stack.start("issues")

    reply = await eventually(lambda: replies.get(fail=False), 15, "the reply after redelivery")
    await reply.ack()
    assert Reply.from_bytes(reply.body).ok
    handled = records(stack.log_lines("issues"), command_id="redeliver-1", event=COMMAND_HANDLED)
    assert [(line["level"], line["outcome"], line["redelivered"]) for line in handled] == [("info", "ok", True)]
    listed = await api.get("/api/v2/issues")
    assert [issue["title"] for issue in listed.data] == ["redelivered"]
    await connection.close()


async def dead_letters(channel, queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    queue = await channel.get_queue(Topology.dead_letter_queue(queue_name), ensure=False)
    messages = []
    while (message := await queue.get(fail=False)) is not None:
        messages.append(message)
        await message.ack()
    return messages


async def test_poison_messages_land_in_the_dead_letter_queue_and_the_service_goes_on(api, stack, amqp):
    topology = Topology(stack.namespace)
    connection = await aio_pika.connect(amqp)
    channel = await connection.channel()
    replies = await channel.declare_queue(exclusive=True)
    exchange = await channel.get_exchange(topology.commands_exchange)
    poisons = {
        b"not json at all": "poison-1",
        b'{"type": "issues.create_issue", "workspace": "w", "correlationId": "c", "payload": {"title": 1}}': "poison-2",
        b'{"type": "issues.launch_rocket", "workspace": "w", "correlationId": "c", "payload": {}}': "poison-3",
    }
    for body, message_id in poisons.items():
        await exchange.publish(aio_pika.Message(body, message_id=message_id, reply_to=replies.name,
                                                correlation_id=message_id), routing_key="issues")

    found = []

    async def all_dead_lettered():
        found.extend(await dead_letters(channel, topology.command_queue("issues")))
        return {message.message_id for message in found} >= set(poisons.values())

    await eventually(all_dead_lettered, 15, "the poison messages in the dead-letter queue")
    assert {message.body for message in found if message.message_id in poisons.values()} == set(poisons)
    error_replies = []

    async def all_answered():
        while (message := await replies.get(fail=False)) is not None:
            error_replies.append(Reply.from_bytes(message.body))
            await message.ack()
        return len(error_replies) == len(poisons)

    await eventually(all_answered, 10, "error replies to the poison messages")
    assert {reply.error.code for reply in error_replies} == {"VALIDATION_ERROR"}
    assert (await api.post("/api/v2/issues", json={"title": "t", "description": "d", "agentId": "a",
                                                   "severity": "low"})).status == 201
    await connection.close()


@pytest.fixture
async def slow_stack(amqp, mongo, log_dir, mongo_client, namespaces):
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, rpc_timeout_seconds="1.5",
                             rpc_start_margin_seconds="0.5") as running:
        yield running


async def test_no_reply_in_time_is_504_and_the_command_never_runs_later(slow_stack, mongo_client, http):
    api = await workspace_api(slow_stack, mongo_client, http)
    slow_stack.pause("issues")
    try:
        response = await api.post("/api/v2/issues", json={"title": "late", "description": "d", "agentId": "a",
                                                           "severity": "low"})
    finally:
        slow_stack.resume("issues")
    assert response.status == 504
    assert response.error["code"] == "TIMEOUT"

    async def discarded():
        return await sample(http, f"http://127.0.0.1:{slow_stack.ops_ports['issues']}/metrics",
                            "messages_handled_total", kind="command", outcome="expired",
                            queue=f"{slow_stack.namespace}.issues.commands") == 1

    await eventually(discarded, 15, "the issues service to count the expired command as discarded")
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 0


async def test_broker_outage_gives_503_then_everything_reconnects(amqp, mongo, log_dir, mongo_client, http, namespaces):
    with TcpProxy(*broker_endpoint(amqp)) as proxy:
        async with running_stack(through(amqp, proxy.port), mongo, log_dir,
                                 mongo_client, namespaces) as running:
            api = await workspace_api(running, mongo_client, http)
            assert (await api.create_issue(title="before"))["title"] == "before"

            proxy.cut()
            # the first command may be handed over before the gateway has read the lost connection: in doubt
            first = await api.post("/api/v2/issues", json={"title": "during", "description": "d", "agentId": "a",
                                                           "severity": "low"})
            assert (first.status, first.error["code"]) in {(503, "SERVICE_UNAVAILABLE"), (504, "TIMEOUT")}

            async def not_ready():
                return (await api.get("/readyz", key=None)).status == 503

            await eventually(not_ready, 10, "the gateway to see the broker is gone")
            down = await api.post("/api/v2/issues", json={"title": "refused", "description": "d", "agentId": "a",
                                                          "severity": "low"})
            assert down.status == 503
            assert down.error["code"] == "SERVICE_UNAVAILABLE"

            proxy.restore()

            async def ready():
                return (await api.get("/readyz", key=None)).status == 200

            await eventually(ready, 30, "the gateway to reconnect")

            async def created_again():
                response = await api.post("/api/v2/issues", json={"title": "after", "description": "d",
                                                                   "agentId": "a", "severity": "low"})
                return response.status == 201

            await eventually(created_again, 30, "the issues service to consume again", interval=0.5)
            titles = {issue["title"] for issue in (await api.get("/api/v2/issues")).data}
            assert "before" in titles and "after" in titles and not titles & {"during", "refused"}
            assert all(process.running for process in running.processes.values())
