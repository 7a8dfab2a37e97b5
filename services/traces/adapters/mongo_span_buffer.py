"""The `otlp_spans` and `otlp_waiting` collections: OTLP spans kept until their trace is
assembled.

A span's `_id` is `<workspace>/<trace id>/<span id>`, so a span sent again is kept once; it is
stored as JSON text (attribute keys hold dots, which are no field names to query by). A
trace's `otlp_waiting` document is `<workspace>/<trace id>`: when its last span arrived,
whether its root has, a sweeper's lease, and `assembled` once it was made into traces; spans
arriving after that are dropped. Both expire (`purgeAt`) a day after their trace was last
heard of, so an abandoned trace does not stay forever.
"""

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Literal

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.traces.domain.otlp import SpanEvent, SpanRecord
from services.traces.domain.otlp_runs import by_trace
from services.traces.ports import WaitingTrace
from shared.contracts.common import utc_now
from shared.store.mongo import chunks, insert_new, store_call

KEPT_FOR = timedelta(days=1)
WRITE_CHUNK = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _trace_key(workspace: str, trace_id: str) -> str:
    return f"{workspace}/{trace_id}"


def span_document(workspace: str, span: SpanRecord, purge_at: datetime) -> dict:
    return {"_id": f"{workspace}/{span.trace_id}/{span.span_id}", "trace": _trace_key(workspace, span.trace_id),
            "span": json.dumps(asdict(span), separators=(",", ":")), "purgeAt": purge_at}


def span_of(document: dict) -> SpanRecord:
    fields = json.loads(document["span"])
    events = tuple(SpanEvent(**event) for event in fields.pop("events"))
    return SpanRecord(**fields, events=events)


class MongoSpanBuffer:
    def __init__(self, spans: AsyncCollection, waiting: AsyncCollection):
        self._collection = spans
        self._waiting = waiting

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([IndexModel([("trace", ASCENDING)]),
                                               IndexModel([("purgeAt", ASCENDING)], expireAfterSeconds=0)])
        await self._waiting.create_indexes([IndexModel([("assembled", ASCENDING), ("lastArrival", ASCENDING)]),
                                            IndexModel([("purgeAt", ASCENDING)], expireAfterSeconds=0)])

    async def add(self, workspace: str, spans: list[SpanRecord], now: datetime, correlation_id: str,
                  actor: str | None) -> dict[str, bool]:
        """The waiting record is touched before the spans are written, so that a sweeper, which
        takes only traces quiet for a while, never assembles a trace while its spans are written."""
        waiting: dict[str, bool] = {}
        kept: list[SpanRecord] = []
        for trace_id, group in by_trace(spans).items():
            has_root = await self._touch(workspace, trace_id, any(s.parent_span_id is None for s in group), now,
                                         correlation_id, actor)
            if has_root is not None:
                waiting[trace_id] = has_root
                kept.extend(group)
        documents = [span_document(workspace, span, now + KEPT_FOR) for span in kept]
        for part in chunks(documents, WRITE_CHUNK):
            await self._insert_new(part)
        return waiting

    async def _touch(self, workspace: str, trace_id: str, root_here: bool, now: datetime, correlation_id: str,
                     actor: str | None) -> bool | None:
        """Whether the trace's root has arrived, or None when the trace was assembled already."""
        for _ in range(3):
            try:
                document = await self._upsert_waiting(workspace, trace_id, root_here, now, correlation_id, actor)
            except DuplicateKeyError:
                continue
            if document is not None:
                return bool(document.get("hasRoot"))
        return None

    @store_call
    async def _upsert_waiting(self, workspace: str, trace_id: str, root_here: bool, now: datetime,
                              correlation_id: str, actor: str | None) -> dict | None:
        """Upserts the record unless assembled: a record that is assembled fails the filter, and
        the upsert then collides with it (a duplicate key) and is retried by the caller, which
        then finds it assembled."""
        key = _trace_key(workspace, trace_id)
        assembled = await self._waiting.find_one({"_id": key, "assembled": True}, {"_id": 1})
        if assembled is not None:
            return None
        return await self._waiting.find_one_and_update(
            {"_id": key, "assembled": False},
            {"$set": {"lastArrival": now, "correlationId": correlation_id, "actor": actor,
                      "purgeAt": now + KEPT_FOR},
             "$max": {"hasRoot": root_here},
             "$setOnInsert": {"workspace": workspace, "traceId": trace_id, "leaseUntil": EPOCH}},
            upsert=True, return_document=ReturnDocument.AFTER)

    @store_call
    async def _insert_new(self, documents: list[dict]) -> None:
        await insert_new(self._collection, documents)

    @store_call
    async def spans_of(self, workspace: str, trace_id: str) -> list[SpanRecord]:
        return [span_of(document) async for document in
                self._collection.find({"trace": _trace_key(workspace, trace_id)}, {"span": 1})]

    @store_call
    async def claim_quiet(self, arrived_before: datetime, now: datetime, lease_seconds: float,
                          limit: int) -> list[WaitingTrace]:
        claimed = []
        for _ in range(limit):
            document = await self._waiting.find_one_and_update(
                {"assembled": False, "lastArrival": {"$lt": arrived_before}, "leaseUntil": {"$lt": now}},
                {"$set": {"leaseUntil": now + timedelta(seconds=lease_seconds)}},
                sort=[("lastArrival", ASCENDING)], return_document=ReturnDocument.AFTER)
            if document is None:
                break
            claimed.append(WaitingTrace(document["workspace"], document["traceId"], document["lastArrival"],
                                        document.get("correlationId") or "-", document.get("actor")))
        return claimed

    @store_call
    async def state(self, workspace: str, trace_id: str) -> Literal["new", "waiting", "assembled"]:
        document = await self._waiting.find_one({"_id": _trace_key(workspace, trace_id)}, {"assembled": 1})
        return "new" if document is None else "assembled" if document.get("assembled") else "waiting"

    @store_call
    async def mark_assembled(self, workspace: str, trace_id: str) -> None:
        """Spans are kept only after the trace's record exists (see `add`): without a record
        before this one, there are none to drop."""
        key = _trace_key(workspace, trace_id)
        now = utc_now()
        before = await self._waiting.find_one_and_update(
            {"_id": key}, {"$set": {"assembled": True, "purgeAt": now + KEPT_FOR},
                           "$setOnInsert": {"workspace": workspace, "traceId": trace_id, "lastArrival": now,
                                            "leaseUntil": EPOCH}},
            upsert=True, return_document=ReturnDocument.BEFORE)
        if before is not None:
            await self._collection.delete_many({"trace": key})
