import asyncio

import aiormq
import pytest

from shared.contracts.envelope import Envelope
from shared.messaging.outbox import OutboxRelay
from tests.support.waiting import eventually
from tests.unit.fakes import InMemoryOutbox


class FakePublisher:
    def __init__(self):
        self.published: list[str] = []
        self.failing_on: set[str] = set()

    async def publish(self, envelope):
        if envelope.message_id in self.failing_on:
            raise aiormq.exceptions.ChannelInvalidStateError("broker down")
        self.published.append(envelope.message_id)


def event(name: str) -> Envelope:
    return Envelope(message_id=name, type="issue.updated", workspace="ws", correlation_id="c", payload={})


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


async def test_a_failed_event_holds_back_the_later_ones_until_it_goes_through(relay_parts):
    store, publisher, relay = relay_parts
    publisher.failing_on = {"v1"}
    store.outbox["iss_3"] = [event("v1"), event("v2")]
    relay.notify("iss_3")
    await relay.drain()
    assert publisher.published == []
    assert pending(store, "iss_3") == ["v1", "v2"]
    publisher.failing_on = set()
    await eventually(lambda: pending(store, "iss_3") == [], 5, "the outbox to empty after the outage")
    assert publisher.published == ["v1", "v2"]


async def test_an_aggregate_leased_to_another_relay_is_left_to_it(relay_parts):
    store, publisher, relay = relay_parts
    store.outbox["iss_4"] = [event("e4")]
    store.leases["iss_4"] = "another-instance"
    relay.notify("iss_4")
    await relay.drain()
    assert publisher.published == []
    del store.leases["iss_4"]
    await eventually(lambda: publisher.published == ["e4"], 5, "the sweep to publish once the lease is gone")
