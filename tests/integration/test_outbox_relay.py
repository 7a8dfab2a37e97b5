"""A change written with its events, then a crash before they were published: a relay that
starts later publishes them, in order, and empties the outbox."""

import asyncio
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from services.issues.domain.model import Issue
from shared.contracts.envelope import Envelope
from shared.contracts.issues import CreateIssue, IssuePatch
from shared.messaging.events import EventPublisher
from shared.messaging.outbox import OutboxRelay
from shared.messaging.rpc import BROKER_ERRORS, BrokerUnavailable
from shared.messaging.topology import Topology
from shared.store.creation import Creation
from tests.support.infrastructure import broker_endpoint, through
from tests.support.tcp_proxy import TcpProxy
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


async def test_a_publish_not_confirmed_in_time_is_a_broker_outage(amqp, namespace):
    connection = await aio_pika.connect_robust(amqp)
    publisher = EventPublisher(connection, Topology(namespace), "issues")
    await publisher.start()
    with pytest.raises(BrokerUnavailable):
        await publisher.publish(event("unconfirmed", "issue.updated"), timeout=0)
    await connection.close()


async def test_what_a_publish_raises_while_the_broker_is_away_counts_as_a_broker_error(amqp, namespace):
    with TcpProxy(*broker_endpoint(amqp)) as proxy:
        connection = await aio_pika.connect_robust(through(amqp, proxy.port))
        publisher = EventPublisher(connection, Topology(namespace), "issues")
        await publisher.start()
        await publisher.publish(event("before", "issue.updated"))
        proxy.cut()
        errors = []

        async def three_publishes_failed():
            try:
                await publisher.publish(event("during", "issue.updated"), timeout=1)
            except Exception as error:
                errors.append(error)
            return len(errors) >= 3

        await eventually(three_publishes_failed, 10, "publishes to fail while the broker is away")
        assert [error for error in errors if not isinstance(error, BROKER_ERRORS)] == []
        proxy.restore()
        await connection.close()
