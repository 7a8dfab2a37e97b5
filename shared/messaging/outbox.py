"""The transactional outbox: events stored with the state change, relayed to the broker.

A service writes a state change and the events it causes in one document write (so the two
cannot disagree), then calls `OutboxRelay.notify` to publish them at once. A periodic sweep
publishes whatever a crash, a broker outage or another instance left behind. Delivery is
therefore at least once: a relay that dies between the broker's confirm and removing the
event from the store publishes it again after restart, so consumers dedupe by `message_id`
(and order by the aggregate `version` the payloads carry). Events of one aggregate are
published in the order they were written.
"""

import asyncio
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

import structlog

from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.messaging.commands import CommandContext
from shared.messaging.events import EventPublisher
from shared.messaging.rpc import BROKER_ERRORS

log = structlog.get_logger(__name__)

RECENTLY_PUBLISHED_KEPT = 10_000


@dataclass(frozen=True)
class PendingEvents:
    aggregate_id: str
    events: list[Envelope]


class Event(Protocol):
    routing_key: ClassVar[str]

    def to_wire(self) -> dict: ...


def envelopes(events: list[Event], ctx: CommandContext) -> list[Envelope]:
    """Events caused by a command, in envelopes carrying its workspace, actor and correlation id."""
    return [
        Envelope(type=event.routing_key, workspace=ctx.workspace, correlation_id=ctx.correlation_id,
                 actor=ctx.actor, payload=event.to_wire())
        for event in events
    ]


class OutboxStore(Protocol):
    async def pending_outbox(self, recorded_before: datetime, limit: int) -> list[PendingEvents]: ...

    async def remove_from_outbox(self, aggregate_id: str, message_ids: list[str]) -> None: ...


class OutboxRelay:
    def __init__(
        self,
        store: OutboxStore,
        publisher: EventPublisher,
        *,
        workers: int = 4,
        sweep_interval: float = 2.0,
        grace: float = 5.0,
    ):
        self._store = store
        self._publisher = publisher
        self._queues: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in range(workers)]
        self._waiting: dict[str, dict[str, Envelope]] = {}
        self._recently_published: OrderedDict[str, None] = OrderedDict()
        self._sweep_interval = sweep_interval
        self._grace = timedelta(seconds=grace)

    def notify(self, pending: PendingEvents) -> None:
        """Publish these events soon; the same aggregate always goes to the same worker.

        While an aggregate waits for its worker, further notifications for it merge into the
        one waiting, so a long broker outage does not grow the queues.
        """
        if not pending.events:
            return
        waiting = self._waiting.get(pending.aggregate_id)
        if waiting is None:
            self._waiting[pending.aggregate_id] = {event.message_id: event for event in pending.events}
            worker = zlib.crc32(pending.aggregate_id.encode()) % len(self._queues)
            self._queues[worker].put_nowait(pending.aggregate_id)
        else:
            for event in pending.events:
                waiting.setdefault(event.message_id, event)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for queue in self._queues:
                tasks.create_task(self._work(queue))
            tasks.create_task(self._sweep())

    async def drain(self) -> None:
        """Wait until every notified batch has been handled (used at shutdown)."""
        for queue in self._queues:
            await queue.join()

    async def _work(self, queue: asyncio.Queue[str]) -> None:
        while True:
            aggregate_id = await queue.get()
            try:
                events = list(self._waiting.pop(aggregate_id, {}).values())
                await self._relay(aggregate_id, events)
            except Exception:
                log.exception("outbox relay failed; the sweep will retry", aggregate_id=aggregate_id)
            finally:
                queue.task_done()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                for pending in await self._store.pending_outbox(utc_now() - self._grace, limit=500):
                    self.notify(pending)
            except Exception as error:
                log.warning("outbox sweep failed; will retry", error=repr(error))

    async def _relay(self, aggregate_id: str, events: list[Envelope]) -> None:
        published = [event.message_id for event in events if event.message_id in self._recently_published]
        try:
            for envelope in events:
                if envelope.message_id in self._recently_published:
                    continue
                await self._publisher.publish(envelope)
                published.append(envelope.message_id)
                log.info("event published", event_type=envelope.type, event_id=envelope.message_id,
                         correlation_id=envelope.correlation_id, aggregate_id=aggregate_id)
        except BROKER_ERRORS as error:
            log.warning("event publish failed; left in the outbox", aggregate_id=aggregate_id, error=repr(error))
        if not published:
            return
        for message_id in published:
            self._recently_published[message_id] = None
        while len(self._recently_published) > RECENTLY_PUBLISHED_KEPT:
            self._recently_published.popitem(last=False)
        try:
            await self._store.remove_from_outbox(aggregate_id, published)
        except Exception as error:
            log.warning("published events not yet removed from the outbox; they may be sent again",
                        aggregate_id=aggregate_id, error=repr(error))
