"""The retry policies over the real broker: an event handler retried in place while the store is
away, and a process waiting for the broker at start-up."""

import asyncio
import time
from typing import ClassVar

import aio_pika
import pytest
from structlog.testing import capture_logs

from shared.contracts.common import ContractModel
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Contended, Unavailable
from shared.messaging.connection import connect
from shared.messaging.events import EventPublisher
from shared.messaging.subscriptions import EventSubscriber, Subscription, routes_to
from shared.messaging.topology import Topology
from tests.support.infrastructure import broker_endpoint, through
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually


class Ping(ContractModel):
    routing_key: ClassVar[str] = "ping.sent"
    n: int


class FlakyHandler:
    """Fails with `failures` in turn, then handles; `attempts` holds when each attempt began."""

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.attempts: list[float] = []
        self.handled: list[str] = []

    async def __call__(self, event: Ping, envelope: Envelope) -> None:
        self.attempts.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        self.handled.append(envelope.message_id)


@pytest.fixture
async def bus(amqp, namespace):
    topology = Topology(namespace)
    connection = await aio_pika.connect_robust(amqp)
    publisher = EventPublisher(connection, topology, "pinger")
    await publisher.start()
    yield topology, connection, publisher
    await connection.close()


async def subscribe(bus, handler) -> EventSubscriber:
    topology, connection, _ = bus
    subscription = Subscription("pings", "pinger", routes_to(handler, Ping))
    subscriber = EventSubscriber(connection, topology, "listener", subscription, prefetch=1)
    await subscriber.start()
    return subscriber


async def ping(bus, message_id: str) -> None:
    await bus[2].publish(Envelope(message_id=message_id, type=Ping.routing_key, workspace="ws", correlation_id="c",
                                  payload=Ping(n=1).to_wire()))


async def queue_depth(bus, subscriber) -> int:
    channel = await bus[1].channel()
    declared = await channel.declare_queue(subscriber.queue_name, passive=True)
    await channel.close()
    return declared.declaration_result.message_count


async def test_a_handler_waiting_for_the_store_is_retried_in_place_with_growing_backoff(bus):
    handler = FlakyHandler(Unavailable("store away"), Contended("changing"), Unavailable("store away"))
    subscriber = await subscribe(bus, handler)
    await ping(bus, "held-1")
    await eventually(lambda: handler.handled == ["held-1"], 10, "the event to be handled once the store is back")
    gaps = [later - earlier for earlier, later in zip(handler.attempts, handler.attempts[1:], strict=False)]
    assert len(handler.attempts) == 4
    assert all(0.9 * wait <= gap < wait + 0.25 for gap, wait in zip(gaps, [0.1, 0.2, 0.4], strict=True)), gaps
    await subscriber.stop(grace=5)
    assert await queue_depth(bus, subscriber) == 0


async def test_a_handler_still_waiting_at_shutdown_leaves_its_event_queued(bus):
    handler = FlakyHandler(*[Unavailable("store away")] * 1000)
    subscriber = await subscribe(bus, handler)
    await ping(bus, "held-2")
    await eventually(lambda: len(handler.attempts) >= 2, 10, "the handler to be retried")
    await subscriber.stop(grace=10)
    assert handler.handled == []
    await eventually(lambda: queue_depth(bus, subscriber), 10, "the event back in its queue")


async def test_any_other_handler_error_requeues_the_event_at_once(bus):
    handler = FlakyHandler(ValueError("a bug"))
    subscriber = await subscribe(bus, handler)
    await ping(bus, "buggy-1")
    await eventually(lambda: handler.handled == ["buggy-1"], 10, "the redelivered event to be handled")
    assert len(handler.attempts) == 2
    await subscriber.stop(grace=5)


class Longest:
    """Jitter that always picks the longest wait."""

    @staticmethod
    def uniform(_low: float, high: float) -> float:
        return high


def retries(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["log_level"] == "warning" and "retry_in_s" in entry]


async def test_a_process_waits_for_the_broker_at_start_up_then_connects(amqp):
    with TcpProxy(*broker_endpoint(amqp)) as proxy, capture_logs() as logs:
        proxy.cut()
        connecting = asyncio.create_task(connect(through(amqp, proxy.port), "waiting", first_backoff=0.05,
                                                    max_backoff=0.2))
        await eventually(lambda: len(retries(logs)) >= 5, 10, "a few refused attempts")
        assert not connecting.done()
        proxy.restore()
        connection = await asyncio.wait_for(connecting, 10)
        assert connection is not None and not connection.is_closed
        await connection.close()
    waits = [entry["retry_in_s"] for entry in retries(logs)]
    assert all(0 <= wait <= 0.2 for wait in waits) and len(set(waits)) > 1, waits


async def test_waiting_for_the_broker_ends_when_asked_to_stop(amqp):
    with TcpProxy(*broker_endpoint(amqp)) as proxy, capture_logs() as logs:
        proxy.cut()
        stop = asyncio.Event()
        connecting = asyncio.create_task(connect(through(amqp, proxy.port), "stopping", stop=stop, rng=Longest(),
                                                    first_backoff=30, max_backoff=30))
        await eventually(lambda: retries(logs), 5, "the first refused attempt")
        stop.set()
        assert await asyncio.wait_for(connecting, 5) is None
    assert len(retries(logs)) == 1
