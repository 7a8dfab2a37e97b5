"""The runner's work goes on its own exchange: the public events exchange carries only events."""

import json

import aio_pika
import pytest

from shared.messaging.topology import Topology
from tests.e2e.test_shadow_tests import a_trace, finished, marker, setup, start_test
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def test_a_subscriber_to_every_runner_event_sees_no_replay_work_and_the_test_completes(api, stack, amqp):
    connection = await aio_pika.connect(amqp)
    try:
        channel = await connection.channel()
        events = await channel.declare_exchange(Topology(stack.namespace).events_exchange("shadow_runner"),
                                                aio_pika.ExchangeType.TOPIC, durable=True)
        everything = await channel.declare_queue(exclusive=True)
        await everything.bind(events, routing_key="#")

        m = marker()
        traces = [a_trace(m, n) for n in range(3)]
        _, fix = await setup(api, traces)
        test = await finished(api, (await start_test(api, fix, traces))["id"])
        assert test["status"] == "completed" and len(test["traceResults"]) == 3

        seen: list[tuple[str, str | None]] = []

        async def completion_seen():
            while (message := await everything.get(fail=False)) is not None:
                envelope = json.loads(message.body)
                seen.append((envelope["type"], envelope["payload"].get("test", {}).get("id")))
                await message.ack()
            return ("shadow_test.completed", test["id"]) in seen

        await eventually(completion_seen, 15, "the test's completion on the public events exchange")
        assert [kind for kind, _ in seen if not kind.startswith("shadow_test.")] == [], seen
    finally:
        await connection.close()
