"""The transactional outbox: events stored with the state change, relayed to the broker.

A service writes a state change and the events it causes in one document write (so the two
cannot disagree), then calls `OutboxRelay.notify(aggregate_id)` to have them published at
once. The relay always publishes the aggregate's whole pending outbox as stored, oldest first,
and stops at the first failure, so the events of one aggregate are published in the order
they were written. A lease on the aggregate keeps two relays (two instances of a service)
from publishing its events side by side. A periodic sweep picks up whatever a crash, a broker
outage or a lost notification left behind.

Delivery is at least once: a relay that dies between the broker's confirm and removing the
event from the store publishes it again after restart. Consumers dedupe by `message_id` and
order by the `version` the payloads carry.

A publish that fails with a broker error (`BROKER_ERRORS`: the broker is away, or did not
confirm in time) leaves the events in the outbox, and every sweep tries again until the broker
is back. A publish that fails with any other error is a bug that retrying as is cannot mend:
it is logged as an error (with the event's correlation id and the exception), the events stay
in the outbox, and the aggregate is parked: the sweep leaves it alone for `park_for` seconds,
then tries once more (and parks it again if it fails again). A `notify` for the aggregate (a
new change written to it) tries it at once.
"""

import asyncio
import time
import uuid
import zlib
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

import structlog

from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.messaging.commands import CommandContext
from shared.messaging.events import EventPublisher
from shared.messaging.metrics import EVENTS_PUBLISHED
from shared.messaging.rpc import BROKER_ERRORS

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=30)


class OutboxStore(Protocol):
    async def claim_outbox(self, aggregate_id: str, holder: str, until: datetime) -> list[Envelope] | None:
        """The aggregate's pending events, oldest first, leased to `holder` until `until`;
        None if nothing is pending or another holder's lease runs."""

    async def release_outbox(self, aggregate_id: str, holder: str, published: list[str]) -> bool:
        """Removes the published events and `holder`'s lease; True if events remain pending."""

    async def aggregates_with_pending_outbox(self, recorded_before: datetime, limit: int) -> list[str]: ...


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


class OutboxRelay:
    def __init__(
        self,
        store: OutboxStore,
        publisher: EventPublisher,
        *,
        workers: int = 4,
        sweep_interval: float = 2.0,
        grace: float = 5.0,
        park_for: float = 60.0,
    ):
        self._store = store
        self._publisher = publisher
        self._holder = uuid.uuid4().hex
        self._queues: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in range(workers)]
        self._queued: set[str] = set()
        self._sweep_interval = sweep_interval
        self._grace = timedelta(seconds=grace)
        self._park_for = park_for
        self._parked_until: dict[str, float] = {}

    def notify(self, aggregate_id: str) -> None:
        """Publish this aggregate's pending events soon, even if it is parked. Each aggregate
        waits at most once in the queues, and always for the same worker."""
        self._parked_until.pop(aggregate_id, None)
        self._enqueue(aggregate_id)

    def _enqueue(self, aggregate_id: str) -> None:
        if aggregate_id in self._queued:
            return
        self._queued.add(aggregate_id)
        self._queues[zlib.crc32(aggregate_id.encode()) % len(self._queues)].put_nowait(aggregate_id)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for queue in self._queues:
                tasks.create_task(self._work(queue))
            tasks.create_task(self._sweep())

    async def drain(self) -> None:
        """Wait until every notified aggregate has been handled (used at shutdown)."""
        for queue in self._queues:
            await queue.join()

    async def _work(self, queue: asyncio.Queue[str]) -> None:
        while True:
            aggregate_id = await queue.get()
            self._queued.discard(aggregate_id)
            try:
                await self._relay(aggregate_id)
            except Exception as error:
                log.warning("outbox relay failed; the sweep will retry", aggregate_id=aggregate_id, error=repr(error))
            finally:
                queue.task_done()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                for aggregate_id in await self._store.aggregates_with_pending_outbox(utc_now() - self._grace, 500):
                    if not self._parked(aggregate_id):
                        self._enqueue(aggregate_id)
            except Exception as error:
                log.warning("outbox sweep failed; will retry", error=repr(error))

    def _parked(self, aggregate_id: str) -> bool:
        until = self._parked_until.get(aggregate_id)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._parked_until[aggregate_id]
        return False

    def _park(self, aggregate_id: str, envelope: Envelope, error: Exception) -> None:
        self._parked_until[aggregate_id] = time.monotonic() + self._park_for
        log.error("event publish failed with an unexpected error; left in the outbox and parked",
                  aggregate_id=aggregate_id, event_type=envelope.type, event_id=envelope.message_id,
                  correlation_id=envelope.correlation_id, retry_in_s=self._park_for, exc_info=error)

    async def _relay(self, aggregate_id: str) -> None:
        more = True
        while more:
            events = await self._store.claim_outbox(aggregate_id, self._holder, utc_now() + LEASE)
            if not events:
                return
            published: list[str] = []
            failed = False
            for envelope in events:
                try:
                    await self._publisher.publish(envelope)
                except BROKER_ERRORS as error:
                    log.warning("event publish failed; left in the outbox", aggregate_id=aggregate_id,
                                correlation_id=envelope.correlation_id, error=repr(error))
                    failed = True
                    break
                except Exception as error:
                    self._park(aggregate_id, envelope, error)
                    failed = True
                    break
                published.append(envelope.message_id)
                EVENTS_PUBLISHED.labels(envelope.type).inc()
                log.info("event published", event_type=envelope.type, event_id=envelope.message_id,
                         correlation_id=envelope.correlation_id, aggregate_id=aggregate_id)
            more = await self._store.release_outbox(aggregate_id, self._holder, published) and not failed
