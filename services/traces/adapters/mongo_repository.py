"""The traces service's collections: `traces`, and `trace_ingestions` (one document per
ingested batch: its creation record and the outbox of its `traces.ingested` event)."""

import asyncio
import random
from collections.abc import Callable

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.contracts.envelope import Envelope
from shared.contracts.traces import ListTraces, Trace
from shared.messaging.mongo import (
    CREATION_INDEX,
    OUTBOX_INDEX,
    AlreadyCreated,
    Creation,
    MongoOutbox,
    outbox_entry,
    store_call,
)

TRANSACTION_ATTEMPTS = 10


def _key(workspace: str, trace_id: str) -> str:
    return f"{workspace}/{trace_id}"


class MongoTraceStore:
    def __init__(self, client: AsyncMongoClient, database: AsyncDatabase):
        self._client = client
        self._traces = database["traces"]
        self._ingestions = database["trace_ingestions"]
        self.outbox = MongoOutbox(self._ingestions)

    async def ensure_indexes(self) -> None:
        newest = [("timestamp", DESCENDING), ("_id", DESCENDING)]
        await self._traces.create_indexes(
            [
                IndexModel([("workspace", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("agentId", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("status", ASCENDING), *newest]),
            ]
        )
        await self._ingestions.create_indexes([CREATION_INDEX, OUTBOX_INDEX])

    @store_call
    async def ingest(
        self,
        ingestion_id: str,
        workspace: str,
        traces: list[Trace],
        command: tuple[str, str],
        events: Callable[[list[Trace]], list[Envelope]],
        respond: Callable[[list[str], list[str]], dict],
    ) -> tuple[list[str], list[str]]:
        """Stores the traces not stored yet and the batch's events in one transaction; returns
        the ids created and the ids that existed. `command` is the command's id and body
        fingerprint; a command seen before raises `AlreadyCreated` and writes nothing."""
        command_id, fingerprint = command

        async def write(session: AsyncClientSession) -> tuple[list[str], list[str]]:
            if seen := await self._creation(workspace, command_id, session):
                raise AlreadyCreated(seen)
            keys = [_key(workspace, trace.id) for trace in traces]
            cursor = self._traces.find({"_id": {"$in": keys}}, {"_id": 1}, session=session)
            existing_keys = {document["_id"] async for document in cursor}
            new = [trace for trace in traces if _key(workspace, trace.id) not in existing_keys]
            created = [trace.id for trace in new]
            existing = [trace.id for trace in traces if _key(workspace, trace.id) in existing_keys]
            if new:
                await self._traces.insert_many([_to_document(workspace, trace) for trace in new], session=session)
            await self._ingestions.insert_one(
                {
                    "_id": ingestion_id,
                    "workspace": workspace,
                    "traceIds": created,
                    "creation": Creation(command_id, fingerprint, respond(created, existing)).to_document(),
                    "outbox": [outbox_entry(envelope) for envelope in (events(new) if new else [])],
                },
                session=session,
            )
            return created, existing

        for attempt in range(TRANSACTION_ATTEMPTS):
            async with self._client.start_session() as session:
                try:
                    return await session.with_transaction(write)
                except DuplicateKeyError:
                    if seen := await self._creation(workspace, command_id):
                        raise AlreadyCreated(seen) from None
                    raise
                except OperationFailure as error:
                    if not _write_conflict(error) or attempt == TRANSACTION_ATTEMPTS - 1:
                        raise
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    async def _creation(self, workspace: str, command_id: str, session=None) -> Creation | None:
        document = await self._ingestions.find_one(
            {"workspace": workspace, "creation.commandId": command_id}, {"creation": 1}, session=session
        )
        return Creation.from_document(document["creation"]) if document else None

    @store_call
    async def get(self, workspace: str, trace_id: str) -> Trace | None:
        document = await self._traces.find_one({"_id": _key(workspace, trace_id)})
        return _from_document(document) if document else None

    @store_call
    async def get_many(self, workspace: str, trace_ids: list[str]) -> list[Trace]:
        cursor = self._traces.find({"_id": {"$in": [_key(workspace, trace_id) for trace_id in trace_ids]}})
        return [_from_document(document) async for document in cursor]

    @store_call
    async def find_page(self, workspace: str, query: ListTraces) -> tuple[list[Trace], int]:
        criteria: dict = {"workspace": workspace}
        if query.agent_id is not None:
            criteria["agentId"] = query.agent_id
        if query.status is not None:
            criteria["status"] = query.status
        window = {op: bound for op, bound in (("$gte", query.from_), ("$lte", query.to)) if bound is not None}
        if window:
            criteria["timestamp"] = window
        cursor = (
            self._traces.find(criteria)
            .sort([("timestamp", DESCENDING), ("_id", DESCENDING)])
            .skip((query.page - 1) * query.limit)
            .limit(query.limit)
        )
        documents = await cursor.to_list()
        return [_from_document(document) for document in documents], await self._traces.count_documents(criteria)


def _write_conflict(error: OperationFailure) -> bool:
    """A transaction that lost a race with another write (MongoDB labels it transient; some
    MongoDB-compatible servers report only the message): the whole transaction is retried."""
    return error.code == 112 or error.has_error_label("TransientTransactionError") or "Write conflict" in str(error)


def _to_document(workspace: str, trace: Trace) -> dict:
    return {"_id": _key(workspace, trace.id), "workspace": workspace, **trace.model_dump(by_alias=True)}


def _from_document(document: dict) -> Trace:
    fields = {key: value for key, value in document.items() if key not in ("_id", "workspace")}
    return Trace.model_validate(fields)
