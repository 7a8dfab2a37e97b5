"""`issues_trace_facts`: what the issues service has heard of traces (from `traces.ingested`),
enough to derive an issue's metadata and its agent's name without asking the traces service."""

from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from services.issues.domain.model import TraceKnowledge
from shared.contracts.issues import IssueMetadata
from shared.contracts.traces import TraceFact
from shared.store.mongo import chunks, insert_new, store_call


def _key(workspace: str, trace_id: str) -> str:
    return f"{workspace}/{trace_id}"


class MongoTraceFacts:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        # `workspace` alone too: the embedded store answers `$in` by reading every candidate, and only a
        # single-field index narrows the candidates (to one workspace's facts) - see `knowledge`.
        await self._collection.create_indexes([IndexModel([("workspace", ASCENDING), ("agentId", ASCENDING)]),
                                               IndexModel([("workspace", ASCENDING)])])

    @store_call
    async def record(self, workspace: str, facts: list[TraceFact]) -> None:
        """Traces are immutable: a fact heard twice is stored once (inserted, the duplicates of
        facts already held refused and ignored: an insert is cheap on every store, where an
        upsert costs the embedded one a read of the collection each)."""
        documents = [{"_id": _key(workspace, fact.id), "workspace": workspace, **fact.model_dump(by_alias=True)}
                     for fact in facts]
        if documents:
            await insert_new(self._collection, documents)

    @store_call
    async def knowledge(self, workspace: str, trace_ids: list[str], unnamed_agent: str | None) -> TraceKnowledge:
        """What the facts of `trace_ids` tell. The `workspace` criterion repeats what each `_id` says,
        so that a store which scans for `$in` (the embedded one does) reads one workspace's facts, not
        every workspace's, once per chunk."""
        first: datetime | None = None
        last: datetime | None = None
        customers: set[str] = set()
        for part in chunks([_key(workspace, trace_id) for trace_id in trace_ids]):
            async for document in self._collection.find({"workspace": workspace, "_id": {"$in": part}},
                                                      {"timestamp": 1, "customerId": 1}):
                first = min(filter(None, (first, document["timestamp"])))
                last = max(filter(None, (last, document["timestamp"])))
                if document.get("customerId"):
                    customers.add(document["customerId"])
        named = unnamed_agent and await self._collection.find_one(
            {"workspace": workspace, "agentId": unnamed_agent, "agentName": {"$ne": None}}, {"agentName": 1}
        )
        metadata = IssueMetadata(first_seen_at=first, last_seen_at=last, affected_customers=len(customers))
        return TraceKnowledge(metadata, named["agentName"] if named else None)

    @store_call
    async def seen_after(self, workspace: str, trace_ids: list[str], after: datetime) -> list[str]:
        """Chunked and naming the workspace, as `knowledge` is."""
        seen = []
        for part in chunks([_key(workspace, trace_id) for trace_id in trace_ids]):
            criteria = {"workspace": workspace, "_id": {"$in": part}, "timestamp": {"$gt": after}}
            seen += [document["id"] async for document in self._collection.find(criteria, {"id": 1})]
        return seen
