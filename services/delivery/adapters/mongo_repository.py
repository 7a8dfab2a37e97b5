"""The delivery service's collections: `webhooks` (endpoints, with the outbox of their events)
and `webhook_deliveries` (one document per event and endpoint, its attempts inside)."""

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.delivery.domain.model import (
    BLOCKED,
    PENDING,
    PREVIOUS_SECRET_KEPT_FOR,
    UNFINISHED,
    Delivery,
    Endpoint,
)
from shared.contracts.common import PageRequest
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Contended
from shared.contracts.webhooks import Attempt, ListDeliveries
from shared.store.creation import CREATION_INDEX, Creation, find_creation, insert_once
from shared.store.mongo import find_page, store_call
from shared.store.outbox import OUTBOX_INDEX, MongoOutbox, push_outbox

NEWEST_FIRST = [("createdAt", DESCENDING), ("_id", DESCENDING)]
ROTATE_ATTEMPTS = 5
LIVE = {"deletedBy": None}
HIDDEN = {"outbox": 0, "creation": 0}
ENDPOINT_FIELDS = {"url": "url", "event_types": "eventTypes", "enabled": "enabled", "description": "description"}


class MongoEndpoints(MongoOutbox):
    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([
            CREATION_INDEX,
            OUTBOX_INDEX,
            IndexModel([("workspace", ASCENDING), *NEWEST_FIRST]),
            IndexModel([("workspace", ASCENDING), ("eventTypes", ASCENDING), ("enabled", ASCENDING)]),
        ])

    @store_call
    async def add(self, endpoint: Endpoint, creation: Creation) -> None:
        await insert_once(self._collection, {**_endpoint_document(endpoint), "deletedBy": None}, creation, [])

    @store_call
    async def find_creation(self, workspace: str, command_id: str) -> Creation | None:
        return await find_creation(self._collection, workspace, command_id)

    @store_call
    async def get(self, workspace: str, endpoint_id: str) -> Endpoint | None:
        document = await self._collection.find_one({"_id": endpoint_id, "workspace": workspace, **LIVE}, HIDDEN)
        return _endpoint(document) if document else None

    @store_call
    async def find_page(self, workspace: str, query: PageRequest) -> tuple[list[Endpoint], int]:
        documents, total = await find_page(self._collection, query, {"workspace": workspace, **LIVE}, NEWEST_FIRST,
                                           HIDDEN)
        return [_endpoint(document) for document in documents], total

    @store_call
    async def subscribed(self, workspace: str, event_type: str) -> list[Endpoint]:
        cursor = self._collection.find({"workspace": workspace, "eventTypes": event_type, "enabled": True, **LIVE},
                                       HIDDEN)
        return [_endpoint(document) async for document in cursor]

    @store_call
    async def update(self, workspace: str, endpoint_id: str, fields: dict, now: datetime) -> Endpoint | None:
        changes = {ENDPOINT_FIELDS[name]: value for name, value in fields.items()} | {"updatedAt": now}
        if fields.get("enabled") is True:
            changes |= {"failingSince": None, "disabledAt": None, "disabledReason": None}
        document = await self._collection.find_one_and_update(
            {"_id": endpoint_id, "workspace": workspace, **LIVE}, {"$set": changes}, projection=HIDDEN,
            return_document=ReturnDocument.AFTER)
        return _endpoint(document) if document else None

    @store_call
    async def rotate(self, workspace: str, endpoint_id: str, secret: str, command_id: str,
                     now: datetime) -> Endpoint | None:
        for _ in range(ROTATE_ATTEMPTS):
            document = await self._collection.find_one({"_id": endpoint_id, "workspace": workspace, **LIVE}, HIDDEN)
            if document is None or document.get("rotatedBy") == command_id:
                return _endpoint(document) if document else None
            result = await self._collection.update_one(
                {"_id": endpoint_id, "secret": document["secret"]},
                {"$set": {"previousSecret": document["secret"], "previousSecretUntil": now + PREVIOUS_SECRET_KEPT_FOR,
                          "secret": secret, "rotatedBy": command_id, "updatedAt": now}})
            if result.modified_count == 1:
                return _endpoint(document | {"secret": secret, "previousSecret": document["secret"],
                                             "previousSecretUntil": now + PREVIOUS_SECRET_KEPT_FOR, "updatedAt": now})
        raise Contended(f"Webhook {endpoint_id} kept changing; try again")

    @store_call
    async def delete(self, workspace: str, endpoint_id: str, command_id: str) -> bool:
        result = await self._collection.update_one(
            {"_id": endpoint_id, "workspace": workspace, "deletedBy": {"$in": [None, command_id]}},
            {"$set": {"deletedBy": command_id, "enabled": False}})
        return result.matched_count == 1

    @store_call
    async def mark_healthy(self, endpoint: Endpoint) -> None:
        await self._collection.update_one({"_id": endpoint.id, "failingSince": {"$ne": None}},
                                          {"$set": {"failingSince": None}})

    @store_call
    async def mark_failing(self, endpoint: Endpoint, now: datetime) -> datetime:
        await self._collection.update_one({"_id": endpoint.id, "failingSince": None}, {"$set": {"failingSince": now}})
        document = await self._collection.find_one({"_id": endpoint.id}, {"failingSince": 1})
        return (document or {}).get("failingSince") or now

    @store_call
    async def disable(self, endpoint: Endpoint, reason: str, now: datetime, event: Envelope) -> bool:
        result = await self._collection.update_one(
            {"_id": endpoint.id, "enabled": True},
            {"$set": {"enabled": False, "disabledAt": now, "disabledReason": reason, "updatedAt": now},
             "$push": push_outbox([event])})
        return result.modified_count == 1


class MongoDeliveries:
    def __init__(self, collection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([
            IndexModel([("workspace", ASCENDING), ("endpointId", ASCENDING), *NEWEST_FIRST]),
            IndexModel([("endpointId", ASCENDING), ("lane", ASCENDING), ("status", ASCENDING),
                        ("orderKey", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("dueBy", ASCENDING)]),
        ])

    @store_call
    async def add(self, delivery: Delivery) -> Delivery:
        try:
            await self._collection.insert_one(_delivery_document(delivery))
            return delivery
        except DuplicateKeyError:
            return _delivery(await self._collection.find_one({"_id": delivery.id}))

    @store_call
    async def get(self, workspace: str, delivery_id: str) -> Delivery | None:
        document = await self._collection.find_one({"_id": delivery_id, "workspace": workspace})
        return _delivery(document) if document else None

    @store_call
    async def find_page(self, workspace: str, query: ListDeliveries) -> tuple[list[Delivery], int]:
        criteria = {"workspace": workspace, "endpointId": query.webhook_id}
        if query.status is not None:
            criteria["status"] = query.status
        documents, total = await find_page(self._collection, query, criteria, NEWEST_FIRST)
        return [_delivery(document) for document in documents], total

    @store_call
    async def unfinished_before(self, delivery: Delivery) -> bool:
        found = await self._collection.find_one(
            {"endpointId": delivery.endpoint_id, "lane": delivery.lane, "status": {"$in": list(UNFINISHED)},
             "$or": [{"orderKey": {"$lt": delivery.order_key}},
                     {"orderKey": delivery.order_key, "_id": {"$lt": delivery.id}}]},
            {"_id": 1})
        return found is not None

    @store_call
    async def first_unfinished(self, endpoint_id: str, lane: str) -> Delivery | None:
        document = await self._collection.find_one(
            {"endpointId": endpoint_id, "lane": lane, "status": {"$in": list(UNFINISHED)}},
            sort=[("orderKey", ASCENDING), ("_id", ASCENDING)])
        return _delivery(document) if document else None

    @store_call
    async def release(self, delivery: Delivery, due_by: datetime, now: datetime) -> bool:
        result = await self._collection.update_one(
            {"_id": delivery.id, "status": BLOCKED},
            {"$set": {"status": PENDING, "nextAttemptAt": now, "dueBy": due_by, "updatedAt": now}})
        return result.modified_count == 1

    @store_call
    async def record(self, delivery: Delivery, attempt: Attempt, status: str, next_attempt_at: datetime | None,
                     due_by: datetime | None) -> bool:
        result = await self._collection.update_one(
            {"_id": delivery.id, "status": PENDING, "attempts": {"$size": attempt.number - 1}},
            {"$push": {"attempts": attempt.model_dump()},
             "$set": {"status": status, "nextAttemptAt": next_attempt_at, "dueBy": due_by,
                      "updatedAt": attempt.at}})
        return result.modified_count == 1

    @store_call
    async def resend(self, delivery: Delivery, due_by: datetime, now: datetime) -> Delivery | None:
        document = await self._collection.find_one_and_update(
            {"_id": delivery.id, "status": delivery.status, "attempts": {"$size": delivery.attempt_count}},
            {"$set": {"status": PENDING, "roundStart": delivery.attempt_count, "nextAttemptAt": now,
                      "dueBy": due_by, "updatedAt": now}},
            return_document=ReturnDocument.AFTER)
        return _delivery(document) if document else None

    @store_call
    async def overdue(self, now: datetime, limit: int) -> list[Delivery]:
        cursor = self._collection.find({"status": PENDING, "dueBy": {"$lt": now}}).limit(limit)
        return [_delivery(document) async for document in cursor]

    @store_call
    async def postpone(self, delivery: Delivery, due_by: datetime) -> bool:
        result = await self._collection.update_one(
            {"_id": delivery.id, "status": PENDING, "attempts": {"$size": delivery.attempt_count}},
            {"$set": {"dueBy": due_by}})
        return result.modified_count == 1

    @store_call
    async def blocked_since(self, before: datetime, limit: int) -> list[Delivery]:
        cursor = self._collection.find({"status": BLOCKED, "createdAt": {"$lt": before}}).limit(limit)
        return [_delivery(document) async for document in cursor]

    @store_call
    async def delete_for_endpoint(self, workspace: str, endpoint_id: str) -> None:
        await self._collection.delete_many({"workspace": workspace, "endpointId": endpoint_id})


def _endpoint_document(endpoint: Endpoint) -> dict:
    return {
        "_id": endpoint.id, "workspace": endpoint.workspace, "url": endpoint.url, "eventTypes": endpoint.event_types,
        "enabled": endpoint.enabled, "description": endpoint.description, "secret": endpoint.secret,
        "previousSecret": endpoint.previous_secret, "previousSecretUntil": endpoint.previous_secret_until,
        "createdAt": endpoint.created_at, "updatedAt": endpoint.updated_at, "failingSince": endpoint.failing_since,
        "disabledAt": endpoint.disabled_at, "disabledReason": endpoint.disabled_reason,
    }


def _endpoint(document: dict) -> Endpoint:
    return Endpoint(
        id=document["_id"], workspace=document["workspace"], url=document["url"], event_types=document["eventTypes"],
        enabled=document["enabled"], description=document.get("description"), secret=document["secret"],
        created_at=document["createdAt"], updated_at=document["updatedAt"],
        previous_secret=document.get("previousSecret"), previous_secret_until=document.get("previousSecretUntil"),
        failing_since=document.get("failingSince"), disabled_at=document.get("disabledAt"),
        disabled_reason=document.get("disabledReason"),
    )


def _delivery_document(delivery: Delivery) -> dict:
    return {
        "_id": delivery.id, "workspace": delivery.workspace, "endpointId": delivery.endpoint_id,
        "eventId": delivery.event_id, "eventType": delivery.event_type, "correlationId": delivery.correlation_id,
        "lane": delivery.lane, "orderKey": delivery.order_key, "resourceId": delivery.resource_id,
        "body": delivery.body, "status": delivery.status, "createdAt": delivery.created_at,
        "updatedAt": delivery.updated_at, "attempts": [a.model_dump() for a in delivery.attempts],
        "roundStart": delivery.round_start, "nextAttemptAt": delivery.next_attempt_at, "dueBy": None,
    }


def _delivery(document: dict) -> Delivery:
    return Delivery(
        id=document["_id"], workspace=document["workspace"], endpoint_id=document["endpointId"],
        event_id=document["eventId"], event_type=document["eventType"], correlation_id=document["correlationId"],
        lane=document["lane"], order_key=document["orderKey"], resource_id=document.get("resourceId"),
        body=document["body"], status=document["status"], created_at=document["createdAt"],
        updated_at=document["updatedAt"], attempts=[Attempt.model_validate(a) for a in document.get("attempts", [])],
        round_start=document.get("roundStart", 0), next_attempt_at=document.get("nextAttemptAt"),
    )
