"""A change written with its events, then a crash before they were published: a relay that
starts later publishes them, in order, and empties the outbox."""

import asyncio
from datetime import UTC, datetime, timedelta

import aio_pika

from services.issues.domain.model import Issue
from shared.contracts.envelope import Envelope
from shared.contracts.issues import CreateIssue, IssuePatch
from shared.messaging.events import EventPublisher
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topology import Topology
from shared.store.creation import Creation
from tests.support.waiting import eventually

T0 = datetime.now(UTC) - timedelta(minutes=1)


def event(name: str, type_: str) -> Envelope:
    return Envelope(message_id=name, type=type_, workspace="ws", correlation_id="c", payload={}, time=T0)


async def test_events_left_by_a_crash_are_published_in_order_by_the_next_relay(issue_repository, amqp, namespace):
    command = CreateIssue(title="t", description="d", agent_id="a", severity="low")
    issue = Issue.open("iss_crash", "ws", command, T0)
    await issue_repository.add(issue, Creation("cmd", "fp", {}), [event("e1", "issue.created")])
    stored = await issue_repository.get("ws", "iss_crash")
    stored.apply(IssuePatch(title="x"), T0, "c2")
    await issue_repository.save(stored, [event("e2", "issue.updated")])

    topology = Topology(namespace)
    connection = await aio_pika.connect_robust(amqp)
    publisher = EventPublisher(connection, topology, "issues")
    await publisher.start()
    channel = await connection.channel()
    received = await channel.declare_queue(exclusive=True)
    await received.bind(topology.events_exchange("issues"), routing_key="issue.*")

    relay = OutboxRelay(issue_repository, publisher, sweep_interval=0.1, grace=1.0)
    running = asyncio.create_task(relay.run())
    ids: list[str] = []

    async def both_arrived():
        while (message := await received.get(fail=False)) is not None:
            ids.append(message.message_id)
            await message.ack()
        return len(ids) >= 2

    await eventually(both_arrived, 10, "the swept events")
    assert ids == ["e1", "e2"]

    async def outbox_empty():
        return await issue_repository.aggregates_with_pending_outbox(datetime.now(UTC), 10) == []

    await eventually(outbox_empty, 5, "the outbox to empty")
    running.cancel()
    await connection.close()
