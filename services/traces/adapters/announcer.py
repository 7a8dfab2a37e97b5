"""Announcing stored traces: one `traces.ingested` event per workspace and ingest command (up
to a batch of traces), then the traces are marked announced.

A trace is stored unannounced in the write that stores it, so none goes unannounced whatever
crashes; one that was published but not marked yet is announced again (delivery is at least
once, and consumers take in the same facts twice harmlessly). `notify` announces at once; a
sweep every `interval` catches what a crash or an outage left.
"""

import asyncio
from collections import defaultdict
from datetime import timedelta

import structlog

from services.traces.domain.failures import failing_trace, may_fail
from services.traces.ports import UnannouncedTraces
from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.traces import TraceFact, TracesIngested
from shared.messaging.events import EventPublisher
from shared.messaging.metrics import EVENTS_PUBLISHED

log = structlog.get_logger(__name__)
BATCH = 500


class TraceAnnouncer:
    def __init__(self, store: UnannouncedTraces, publisher: EventPublisher, interval: float = 2.0, grace: float = 5.0):
        self._store = store
        self._publisher = publisher
        self._interval = interval
        self._grace = timedelta(seconds=grace)
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            notified = True
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                notified = False
            self._wake.clear()
            before = None if notified else utc_now() - self._grace
            try:
                while await self._announce_batch(before) == BATCH:
                    pass
            except Exception as error:
                log.warning("traces not announced yet; will retry", error=repr(error))

    async def _announce_batch(self, ingested_before) -> int:
        """Announces unannounced traces: all of them when notified, else (a sweep) only those
        stored a while ago, so as not to split a batch that is still being written."""
        documents = await self._store.unannounced(BATCH, ingested_before)
        groups: dict[tuple[str, str, str | None], list[dict]] = defaultdict(list)
        for document in documents:
            ingestion = document.get("ingestion", {})
            key = (document["workspace"], ingestion.get("correlationId", "-"), ingestion.get("actor"))
            groups[key].append(document)
        for (workspace, correlation_id, actor), batch in groups.items():
            event = TracesIngested(traces=[TraceFact.model_validate(_fact_fields(document)) for document in batch],
                                   failing=[failing_trace(document) for document in batch if may_fail(document)])
            envelope = Envelope(type=event.routing_key, workspace=workspace, correlation_id=correlation_id,
                                actor=actor, payload=event.to_wire())
            await self._publisher.publish(envelope)
            await self._store.mark_announced([document["_id"] for document in batch])
            EVENTS_PUBLISHED.labels(envelope.type).inc()
            log.info("traces announced", count=len(batch), event_id=envelope.message_id, correlation_id=correlation_id)
        return len(documents)


def _fact_fields(document: dict) -> dict:
    return {key: document.get(key) for key in ("id", "agentId", "agentName", "customerId", "timestamp")}
