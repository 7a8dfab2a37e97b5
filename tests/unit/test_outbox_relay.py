import asyncio

import aiormq
import pytest
from structlog.testing import capture_logs

from shared.contracts.envelope import Envelope
from shared.messaging.outbox import OutboxRelay
from shared.messaging.rpc import BrokerUnavailable
from tests.support.waiting import eventually
from tests.unit.fakes import InMemoryOutbox


class FakePublisher:
    def __init__(self):
        self.published: list[str] = []
        self.attempts: list[str] = []
        self.failing_on: set[str] = set()
        self.failure: Exception = aiormq.exceptions.ChannelInvalidStateError("broker down")

    async def publish(self, envelope):
        self.attempts.append(envelope.message_id)
        if envelope.message_id in self.failing_on:
            raise self.failure
        self.published.append(envelope.message_id)


def event(name: str) -> Envelope:
    return Envelope(message_id=name, type="issue.updated", workspace="ws", correlation_id=f"corr-{name}", payload={})


@pytest.fixture
async def relay_parts():
    store, publisher = InMemoryOutbox(), FakePublisher()
    relay = OutboxRelay(store, publisher, workers=2, sweep_interval=0.05, grace=0)
    task = asyncio.create_task(relay.run())
    yield store, publisher, relay
    task.cancel()


def pending(store, aggregate_id):
    return [e.message_id for e in store.outbox[aggregate_id]]


async def test_a_notified_aggregate_has_its_events_published_in_order_then_removed(relay_parts):
    store, publisher, relay = relay_parts
    store.outbox["iss_1"] = [event("e1"), event("e2")]
    relay.notify("iss_1")
    await eventually(lambda: pending(store, "iss_1") == [], 5, "the outbox to empty")
    assert publisher.published == ["e1", "e2"]


async def test_events_nobody_notified_are_swept_up(relay_parts):
    store, publisher, _ = relay_parts
    store.outbox["iss_2"] = [event("lost-in-a-crash")]
    await eventually(lambda: publisher.published == ["lost-in-a-crash"], 5, "the sweep to publish")
    await eventually(lambda: pending(store, "iss_2") == [], 5, "the outbox to empty")


BROKER_OUTAGES = [
    aiormq.exceptions.ChannelInvalidStateError("channel closed"),
    aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"),
    ConnectionResetError("reset by peer"),
    BrokerUnavailable("no confirm within 5s"),
]


@pytest.mark.parametrize("outage", BROKER_OUTAGES, ids=lambda error: type(error).__name__)
async def test_a_failed_event_holds_back_the_later_ones_until_it_goes_through(relay_parts, outage):
    store, publisher, relay = relay_parts
    publisher.failing_on, publisher.failure = {"v1"}, outage
    store.outbox["iss_3"] = [event("v1"), event("v2")]
    relay.notify("iss_3")
    await relay.drain()
    assert publisher.published == []
    assert pending(store, "iss_3") == ["v1", "v2"]
    await eventually(lambda: publisher.attempts.count("v1") >= 3, 5, "the sweep to retry during the outage")
    publisher.failing_on = set()
    await eventually(lambda: pending(store, "iss_3") == [], 5, "the outbox to empty after the outage")
    assert publisher.published == ["v1", "v2"]


async def window_passes(seconds: float) -> None:
    """Lets the relay run for `seconds` (twenty of the fixture's sweep intervals for 1s)."""
    deadline = asyncio.get_running_loop().time() + seconds
    await eventually(lambda: asyncio.get_running_loop().time() >= deadline, seconds + 5, f"{seconds:g}s to pass")


async def test_an_event_whose_publish_fails_with_a_bug_is_logged_and_parked_not_retried_in_a_loop(relay_parts):
    store, publisher, relay = relay_parts
    publisher.failing_on, publisher.failure = {"bad"}, RuntimeError("a bug in serialising")
    store.outbox["iss_5"] = [event("bad"), event("after")]
    with capture_logs() as logs:
        relay.notify("iss_5")
        await relay.drain()
        await window_passes(1.0)
    assert publisher.attempts == ["bad"]
    assert pending(store, "iss_5") == ["bad", "after"]
    assert store.leases.get("iss_5") is None
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["correlation_id"] == "corr-bad" and errors[0]["aggregate_id"] == "iss_5"
    assert errors[0]["exc_info"] is publisher.failure


async def test_a_parked_aggregate_is_tried_again_when_notified_or_once_its_park_runs_out():
    store, publisher = InMemoryOutbox(), FakePublisher()
    relay = OutboxRelay(store, publisher, workers=1, sweep_interval=0.05, grace=0, park_for=0.5)
    running = asyncio.create_task(relay.run())
    publisher.failing_on, publisher.failure = {"bad"}, TypeError("not serialisable")
    store.outbox["iss_6"] = [event("bad")]
    relay.notify("iss_6")
    await eventually(lambda: publisher.attempts == ["bad"], 5, "the first attempt")
    relay.notify("iss_6")
    await eventually(lambda: publisher.attempts == ["bad", "bad"], 5, "an attempt on notify")
    await eventually(lambda: len(publisher.attempts) == 3, 5, "an attempt once the park ran out")
    publisher.failing_on = set()
    await eventually(lambda: pending(store, "iss_6") == [], 5, "the outbox to empty once the bug is gone")
    assert len(publisher.attempts) == 4
    running.cancel()


async def test_an_aggregate_leased_to_another_relay_is_left_to_it(relay_parts):
    store, publisher, relay = relay_parts
    store.outbox["iss_4"] = [event("e4")]
    store.leases["iss_4"] = "another-instance"
    relay.notify("iss_4")
    await relay.drain()
    assert publisher.published == []
    del store.leases["iss_4"]
    await eventually(lambda: publisher.published == ["e4"], 5, "the sweep to publish once the lease is gone")
