"""The MongoDB side of the messaging guarantees, for any service that owns a collection.

- The transactional outbox: events are stored in an `outbox` array inside the document whose
  change caused them (`outbox_entry`), so a change and its events are written together;
  `MongoOutbox` leases a document's pending events to a relay and removes what the broker
  confirmed.
- Commands applied once: a created document keeps `creation.commandId` under a unique index
  with its workspace; `insert_once` tells a taken id from a command seen before.
- A store that does not answer becomes the typed `Unavailable` error (`store_call`), which a
  command reply carries to the caller as 503, and which event consumers retry.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import ClassVar

import pymongo
import structlog
from pymongo import ASCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from shared.contracts.common import PageRequest
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Contended, DeadlineExceeded, Unavailable
from shared.messaging import deadline
from shared.messaging.connection import stopped_within
from shared.settings import CommonSettings

log = structlog.get_logger(__name__)

OUTBOX_INDEX = IndexModel([("outbox.recordedAt", ASCENDING)])
CREATION_INDEX = IndexModel([("workspace", ASCENDING), ("creation.commandId", ASCENDING)], unique=True)


IN_CHUNK = 200


def chunks[T](values: list[T], size: int = IN_CHUNK) -> list[list[T]]:
    """`values` in slices for `$in` queries: MongoDB takes long lists, but some compatible
    servers (the embedded one among them) nest `$in` and refuse deep expressions."""
    return [values[start:start + size] for start in range(0, len(values), size)]


_store_timeout = 3.0


def store_call[**P, R](method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Runs a store operation within `STORE_TIMEOUT_SECONDS` and the current command's
    deadline, whichever comes first, and turns an unreachable store into `Unavailable` and a
    deadline passed into `DeadlineExceeded`."""

    @wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout = deadline.bounded(_store_timeout, "The command's deadline passed before the store was asked")
        try:
            with pymongo.timeout(timeout):
                return await method(*args, **kwargs)
        except PyMongoError as error:
            if getattr(error, "timeout", False) and (left := deadline.remaining()) is not None and left <= 0:
                raise DeadlineExceeded("The store did not answer before the command's deadline") from error
            if isinstance(error, ConnectionFailure) or getattr(error, "timeout", False):
                raise Unavailable("The store is unreachable; try again shortly") from error
            raise

    return call


@store_call
async def find_page(
    collection: AsyncCollection, query: PageRequest, criteria: dict, sort: list, projection: dict | None = None
) -> tuple[list[dict], int]:
    """The documents of page `query.page` (in `sort` order), and how many match in all."""
    cursor = collection.find(criteria, projection).sort(sort).skip((query.page - 1) * query.limit).limit(query.limit)
    return await cursor.to_list(), await collection.count_documents(criteria)


def outbox_entry(envelope: Envelope) -> dict:
    return {"recordedAt": envelope.time, "envelope": envelope.model_dump(mode="json", by_alias=True)}


def push_outbox(envelopes: list[Envelope]) -> dict:
    """The `$push` clause that appends events to a document's outbox in the same update."""
    return {"outbox": {"$each": [outbox_entry(envelope) for envelope in envelopes]}}


@dataclass(frozen=True)
class Creation:
    """How a document came to be: the command that created it and the answer it got."""

    command_id: str
    fingerprint: str
    response: dict

    def to_document(self) -> dict:
        return {"commandId": self.command_id, "fingerprint": self.fingerprint, "response": self.response}

    @classmethod
    def from_document(cls, document: dict) -> "Creation":
        return cls(document["commandId"], document["fingerprint"], document["response"])


class IdTaken(Exception):
    pass


class ConcurrentUpdate(Exception):
    """The document changed since it was read; read it again and re-apply the command."""


class AlreadyCreated(Exception):
    def __init__(self, creation: Creation):
        super().__init__(creation.command_id)
        self.creation = creation


async def insert_once(collection: AsyncCollection, document: dict, creation: Creation, outbox: list[Envelope]) -> None:
    """Inserts a new document with its creation record and outbox; raises `IdTaken` if its
    `_id` exists, `AlreadyCreated` if its workspace saw this command before."""
    try:
        await collection.insert_one(
            {**document, "creation": creation.to_document(), "outbox": [outbox_entry(e) for e in outbox]}
        )
    except DuplicateKeyError as error:
        if "_id" in (error.details or {}).get("keyPattern", {}):
            raise IdTaken(document["_id"]) from error
        existing = await find_creation(collection, document["workspace"], creation.command_id)
        if existing is None:
            raise
        raise AlreadyCreated(existing) from error


async def find_creation(collection: AsyncCollection, workspace: str, command_id: str) -> Creation | None:
    document = await collection.find_one({"workspace": workspace, "creation.commandId": command_id}, {"creation": 1})
    return Creation.from_document(document["creation"]) if document else None


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


class VersionedDocuments(MongoOutbox):
    """A collection of aggregates, each a document with a `version`, its creation record and
    its outbox: new ones are inserted once per command, changed ones replaced only if nobody
    changed them since they were read, their events always in the same write."""

    live: ClassVar[dict] = {}

    @store_call
    async def insert(self, document: dict, creation: Creation, outbox: list[Envelope]) -> None:
        await insert_once(self._collection, document, creation, outbox)

    @store_call
    async def replace(
        self, document: dict, read_version: int, outbox: list[Envelope], only: tuple[str, ...] | None = None
    ) -> None:
        """Stores the new state of a document that was at `read_version` when read (only the
        fields named in `only`, when given); raises `ConcurrentUpdate` if it changed meanwhile."""
        names = only or [key for key in document if key not in ("_id", "workspace", "createdAt")]
        fields = {name: document[name] for name in names}
        result = await self._collection.update_one(
            {"_id": document["_id"], "workspace": document["workspace"], "version": read_version, **self.live},
            {"$set": fields, "$push": push_outbox(outbox)},
        )
        if result.matched_count == 0:
            raise ConcurrentUpdate(document["_id"])

    @store_call
    async def find_creation(self, workspace: str, command_id: str) -> Creation | None:
        return await find_creation(self._collection, workspace, command_id)


def mongo_client(settings: CommonSettings, appname: str) -> AsyncMongoClient:
    """A client whose every operation gives up after `STORE_TIMEOUT_SECONDS`."""
    global _store_timeout
    _store_timeout = settings.store_timeout_seconds
    timeout_ms = int(settings.store_timeout_seconds * 1000)
    return AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, appname=appname, serverSelectionTimeoutMS=timeout_ms, timeoutMS=timeout_ms
    )


def store_ping(client: AsyncMongoClient) -> Callable[[], Awaitable[None]]:
    async def ping() -> None:
        await client.admin.command("ping")

    return ping


async def wait_for_store(
    prepare: Callable[[], Awaitable[None]], retry_interval: float = 2.0, stop: asyncio.Event | None = None
) -> bool:
    """Runs `prepare` (creating indexes, say) until the store answers; False if `stop` is set
    meanwhile."""
    while True:
        try:
            await prepare()
            return True
        except PyMongoError as error:
            log.warning("store unreachable, retrying", error=f"{type(error).__name__}: {str(error)[:160]}",
                        retry_in_s=retry_interval)
            if await stopped_within(stop, retry_interval):
                return False


CONFLICT_ATTEMPTS = 10


async def retry_on_conflict[T](attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """Runs read-modify-write `attempt` until no concurrent change gets in between, backing off
    with jitter; only a document that keeps changing is a `Conflict`."""
    for number in range(CONFLICT_ATTEMPTS):
        try:
            return await attempt()
        except ConcurrentUpdate:
            await asyncio.sleep(random.uniform(0, 0.005 * 2**number))
    raise Contended(f"{what} is being changed by many requests at once; try again")
