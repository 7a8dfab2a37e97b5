"""The `traces` collection. Each trace document carries the command that ingested it and an
`announced` flag, false until its `traces.ingested` event is published (see `announcer.py`):
a trace and the duty to announce it are written together, without multi-document
transactions."""

from datetime import datetime, timedelta
from typing import Literal

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.common import utc_now
from shared.contracts.traces import ListTraces, Trace
from shared.store.mongo import chunks, find_page, insert_new, store_call

WRITE_CHUNK = 20
"""Traces per insert: each insert is one store call within `STORE_TIMEOUT_SECONDS`, and the
whole batch within the command's deadline (an insert of hundreds of documents can outlast the
store timeout on a slow store, which abandons the call while the store finishes it)."""
INGESTIONS_KEPT_FOR = timedelta(days=7)
HIDDEN = {"_id": 0, "workspace": 0, "ingestion": 0, "announced": 0}
FACT_FIELDS = {"workspace": 1, "id": 1, "agentId": 1, "agentName": 1, "customerId": 1, "timestamp": 1,
               "ingestion.correlationId": 1, "ingestion.actor": 1,
               "status": 1, "feedback": 1, "output": 1, "input": 1}
"""A trace's facts, and what a `traces.ingested` event says of one that may have failed."""


def trace_key(workspace: str, trace_id: str) -> str:
    return f"{workspace}/{trace_id}"


class MongoTraceStore:
    """A trace's `_id` is `<workspace>/<trace id>`: ids are the caller's, unique per workspace.
    `trace_ingestions` remembers each ingest command's body fingerprint for a week."""

    def __init__(self, traces: AsyncCollection, ingestions: AsyncCollection):
        self._collection = traces
        self._ingestions = ingestions

    async def ensure_indexes(self) -> None:
        newest = [("timestamp", DESCENDING), ("_id", DESCENDING)]
        await self._collection.create_indexes(
            [
                IndexModel([("announced", ASCENDING)]),
                IndexModel([("workspace", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("agentId", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("status", ASCENDING), *newest]),
            ]
        )
        await self._ingestions.create_indexes([IndexModel([("purgeAt", ASCENDING)], expireAfterSeconds=0)])

    @store_call
    async def claim_command(
        self, workspace: str, command_id: str, fingerprint: str
    ) -> Literal["first", "again", "other body"]:
        """Records that this command ingests this body: `first` for the first delivery, `again`
        when the command was seen before with this body, `other body` when with another."""
        now = utc_now()
        key = f"{workspace}/{command_id}"
        try:
            await self._ingestions.insert_one(
                {"_id": key, "fingerprint": fingerprint, "at": now, "purgeAt": now + INGESTIONS_KEPT_FOR}
            )
        except DuplicateKeyError:
            seen = await self._ingestions.find_one({"_id": key})
            return "again" if seen is None or seen["fingerprint"] == fingerprint else "other body"
        return "first"

    async def insert_new(
        self, workspace: str, traces: list[Trace], ingestion: dict
    ) -> tuple[list[str], dict[str, dict]]:
        """Inserts the traces whose id is free, not announced yet, `WRITE_CHUNK` at a time;
        returns the ids inserted now and, for the others, the `ingestion` record of the command
        that stored them. A store failure part of the way leaves the chunks before it stored."""
        documents = [
            {"_id": trace_key(workspace, trace.id), "workspace": workspace, **trace.model_dump(by_alias=True),
             "ingestion": ingestion, "announced": False}
            for trace in traces
        ]
        taken: set[str] = set()
        for part in chunks(documents, WRITE_CHUNK):
            taken |= await self._insert_free(part)
        holders = {}
        for keys in chunks(sorted(taken)):
            holders |= await self._ingestions_of(keys)
        return [trace.id for trace in traces if trace_key(workspace, trace.id) not in taken], holders

    @store_call
    async def _insert_free(self, documents: list[dict]) -> set[str]:
        """Inserts the documents whose `_id` is free; returns the `_id`s that were taken."""
        return await insert_new(self._collection, documents)

    @store_call
    async def _ingestions_of(self, keys: list[str]) -> dict[str, dict]:
        return {document["_id"].split("/", 1)[1]: document.get("ingestion", {})
                async for document in self._collection.find({"_id": {"$in": keys}}, {"ingestion": 1})}

    @store_call
    async def unannounced(self, limit: int, ingested_before: datetime | None = None) -> list[dict]:
        """Traces whose `traces.ingested` event is still to publish (stored before
        `ingested_before`, if given): their facts, workspace and the correlation id and actor of
        the command that stored them."""
        criteria: dict = {"announced": False}
        if ingested_before is not None:
            criteria["ingestedAt"] = {"$lt": ingested_before}
        return await self._collection.find(criteria, FACT_FIELDS).limit(limit).to_list()

    @store_call
    async def mark_announced(self, keys: list[str]) -> None:
        for part in chunks(keys):
            await self._collection.update_many({"_id": {"$in": part}}, {"$set": {"announced": True}})

    @store_call
    async def get(self, workspace: str, trace_id: str) -> Trace | None:
        document = await self._collection.find_one({"_id": trace_key(workspace, trace_id)}, HIDDEN)
        return Trace.model_validate(document) if document else None

    @store_call
    async def existing_ids(self, workspace: str, trace_ids: list[str]) -> set[str]:
        found = set()
        for part in chunks([trace_key(workspace, t) for t in trace_ids]):
            found |= {document["_id"].split("/", 1)[1]
                      async for document in self._collection.find({"_id": {"$in": part}}, {"_id": 1})}
        return found

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
        documents, total = await find_page(
            self._collection, query, criteria, [("timestamp", DESCENDING), ("_id", DESCENDING)], HIDDEN
        )
        return [Trace.model_validate(document) for document in documents], total
