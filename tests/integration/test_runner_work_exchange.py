"""The runner's outbox through a real broker: its events reach a subscriber bound to its
public events exchange with `#`, its replay work reaches only its own work queue."""

import dataclasses
from datetime import UTC, datetime

import aio_pika

from services.shadow_runner.domain.commands import WORK, ReplayRequested
from services.shadow_runner.entrypoints.work import work_queues
from shared.contracts.envelope import Envelope
from shared.contracts.shadow_tests import SHADOW_RUNNER
from shared.messaging.events import EventPublisher
from shared.messaging.subscriptions import EventSubscriber, routes_to
from shared.messaging.topology import Topology
from tests.support.waiting import eventually


def envelope(message_id: str, type_: str, payload: dict) -> Envelope:
    return Envelope(message_id=message_id, type=type_, workspace="ws", correlation_id="c", payload=payload,
                    time=datetime.now(UTC))


async def test_replay_work_goes_to_the_work_queue_and_never_to_the_public_events_exchange(amqp, namespace):
    topology = Topology(namespace)
    connection = await aio_pika.connect_robust(amqp)
    try:
        publisher = EventPublisher(connection, topology, SHADOW_RUNNER, [message.routing_key for message in WORK])
        await publisher.start()
        channel = await connection.channel()
        everything = await channel.declare_queue(exclusive=True)
        await everything.bind(topology.events_exchange(SHADOW_RUNNER), routing_key="#")
        taken: list[str] = []

        async def take(work: ReplayRequested, envelope: Envelope) -> None:
            taken.append(work.trace_id)

        [runner_work] = work_queues(deps=None, concurrency=2)
        subscriber = EventSubscriber(connection, topology, SHADOW_RUNNER,
                                     dataclasses.replace(runner_work, routes=routes_to(take, ReplayRequested)), 2)
        await subscriber.start()
        assert subscriber.queue_name == f"{namespace}.shadow_runner.replays", "the queue KEDA scales runners on"

        work = ReplayRequested(shadow_test_id="st_1", trace_id="tr_1")
        await publisher.publish(envelope("w1", work.routing_key, work.to_wire()))
        await publisher.publish(envelope("e1", "shadow_test.started", {}))

        seen: list[str] = []

        async def event_seen():
            while (message := await everything.get(fail=False)) is not None:
                seen.append(message.type)
                await message.ack()
            return "shadow_test.started" in seen

        await eventually(lambda: taken == ["tr_1"], 10, "the replay work on the runner's work queue")
        await eventually(event_seen, 10, "the event on the public events exchange")
        assert seen == ["shadow_test.started"], "work published before the event would have been routed before it"
        await subscriber.stop()
    finally:
        await connection.close()
