import asyncio

import aiormq
import pytest

from shared.contracts.envelope import Envelope
from shared.messaging.outbox import OutboxRelay, PendingEvents
from tests.support.waiting import eventually
from tests.unit.fakes import FakeIssueRepository


class FakePublisher:
    def __init__(self):
        self.published: list[str] = []
        self.failing = False

    async def publish(self, envelope):
        if self.failing:
            raise aiormq.exceptions.ChannelInvalidStateError("broker down")
        self.published.append(envelope.message_id)


def event(name: str) -> Envelope:
    return Envelope(message_id=name, type="issue.updated", workspace="ws", correlation_id="c", payload={})


@pytest.fixture
async def relay_parts():
    store, publisher = FakeIssueRepository(), FakePublisher()
    relay = OutboxRelay(store, publisher, workers=2, sweep_interval=0.05, grace=0)
    task = asyncio.create_task(relay.run())
    yield store, publisher, relay
    task.cancel()


async def test_notified_events_are_published_in_order_then_removed(relay_parts):
    store, publisher, relay = relay_parts
    store.outbox["iss_1"] = [event("e1"), event("e2")]
    relay.notify(PendingEvents("iss_1", list(store.outbox["iss_1"])))
    await eventually(lambda: store.outbox["iss_1"] == [], 5, "the outbox to empty")
    assert publisher.published == ["e1", "e2"]


async def test_events_nobody_notified_are_swept_up(relay_parts):
    store, publisher, _ = relay_parts
    store.outbox["iss_2"] = [event("lost-in-a-crash")]
    await eventually(lambda: publisher.published == ["lost-in-a-crash"], 5, "the sweep to publish")
    await eventually(lambda: store.outbox["iss_2"] == [], 5, "the outbox to empty")


async def test_a_broker_outage_keeps_events_until_it_is_over(relay_parts):
    store, publisher, relay = relay_parts
    publisher.failing = True
    store.outbox["iss_3"] = [event("e3")]
    relay.notify(PendingEvents("iss_3", [event("e3")]))
    await relay.drain()
    assert [e.message_id for e in store.outbox["iss_3"]] == ["e3"]
    publisher.failing = False
    await eventually(lambda: store.outbox["iss_3"] == [], 5, "the outbox to empty after the outage")
    assert publisher.published == ["e3"]


async def test_an_event_is_not_published_twice_by_one_relay(relay_parts):
    store, publisher, relay = relay_parts
    store.outbox["iss_4"] = [event("e4")]
    relay.notify(PendingEvents("iss_4", [event("e4")]))
    await relay.drain()
    relay.notify(PendingEvents("iss_4", [event("e4")]))
    await relay.drain()
    assert publisher.published == ["e4"]
