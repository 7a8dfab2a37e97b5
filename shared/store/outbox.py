"""The transactional outbox, in MongoDB: events are stored in an `outbox` array inside the
document whose change caused them (`outbox_entry`), so a change and its events are written
together; `MongoOutbox` leases a document's pending events to a relay
(`shared.messaging.outbox.OutboxRelay`) and removes what the broker confirmed."""

from datetime import UTC, datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.envelope import Envelope
from shared.store.mongo import IN_CHUNK, store_call

OUTBOX_INDEX = IndexModel([("outbox.recordedAt", ASCENDING)])


def outbox_entry(envelope: Envelope) -> dict:
    return {"recordedAt": envelope.time, "envelope": envelope.model_dump(mode="json", by_alias=True)}


def push_outbox(envelopes: list[Envelope]) -> dict:
    """The `$push` clause that appends events to a document's outbox in the same update."""
    return {"outbox": {"$each": [outbox_entry(envelope) for envelope in envelopes]}}


class MongoOutbox:
    """The outbox of the documents of one collection; `outboxLease` marks who relays them."""

    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    @store_call
    async def claim_outbox(self, aggregate_id: str, holder: str, until: datetime) -> list[Envelope] | None:
        """The oldest pending events (up to `IN_CHUNK`; the relay comes back for the rest)."""
        document = await self._collection.find_one_and_update(
            {
                "_id": aggregate_id,
                "outbox.0": {"$exists": True},
                "$or": [{"outboxLease": None}, {"outboxLease.holder": holder},
                        {"outboxLease.until": {"$lt": datetime.now(UTC)}}],
            },
            {"$set": {"outboxLease": {"holder": holder, "until": until}}},
            projection={"outbox": {"$slice": IN_CHUNK}},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            return None
        return [Envelope.model_validate(entry["envelope"]) for entry in document["outbox"]]

    @store_call
    async def release_outbox(self, aggregate_id: str, holder: str, published: list[str]) -> bool:
        document = await self._collection.find_one_and_update(
            {"_id": aggregate_id, "outboxLease.holder": holder},
            {"$pull": {"outbox": {"envelope.messageId": {"$in": published}}}, "$set": {"outboxLease": None}},
            projection={"outbox": 1},
            return_document=ReturnDocument.AFTER,
        )
        return bool(document and document["outbox"])

    @store_call
    async def aggregates_with_pending_outbox(self, recorded_before: datetime, limit: int) -> list[str]:
        cursor = self._collection.find({"outbox.recordedAt": {"$lt": recorded_before}}, {"_id": 1}).limit(limit)
        return [document["_id"] async for document in cursor]
