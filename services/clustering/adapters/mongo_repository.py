"""The clustering service's collections: `clustering_settings` (one document a workspace),
`clustering_agents` (one an agent of a workspace: its `AgentRecord`, vectors as float32 bytes)
and `clustering_manual_issues` (the trace ids of each issue callers made)."""

from dataclasses import asdict
from datetime import timedelta

import numpy as np
from bson import Binary
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.clustering.domain.record import AgentRecord, OwedCommand
from services.clustering.domain.state import AgentState
from shared.contracts.clustering import ClusteringSettingsView
from shared.contracts.common import FIRST_VERSION, utc_now
from shared.store.documents import ConcurrentUpdate
from shared.store.mongo import chunks, store_call

MANUAL_TRACES_KEPT_FOR = timedelta(days=90)


def _key(workspace: str, name: str) -> str:
    return f"{workspace}/{name}"


class MongoSettings:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    @store_call
    async def get(self, workspace: str) -> tuple[ClusteringSettingsView, int, str | None]:
        document = await self._collection.find_one({"_id": workspace})
        if document is None:
            return ClusteringSettingsView(), FIRST_VERSION, None
        return ClusteringSettingsView.model_validate(document["settings"]), document["version"], document["commandId"]

    @store_call
    async def save(self, workspace: str, settings: ClusteringSettingsView, read_version: int, command_id: str) -> None:
        fields = {"settings": settings.to_wire(), "version": read_version + 1, "commandId": command_id,
                  "updatedAt": utc_now()}
        if read_version == FIRST_VERSION:
            try:
                result = await self._collection.update_one(
                    {"_id": workspace, "version": read_version}, {"$set": fields}, upsert=True)
            except DuplicateKeyError as error:
                raise ConcurrentUpdate(workspace) from error
        else:
            result = await self._collection.update_one({"_id": workspace, "version": read_version}, {"$set": fields})
        if result.matched_count == 0 and result.upserted_id is None:
            raise ConcurrentUpdate(workspace)


def _centroids(state: dict) -> list[dict]:
    """The issues' centroids, and the sum of all the agent's failing traces (absent from states
    stored before it was kept)."""
    return [issue["centroid"] for issue in state["issues"]] + ([state["common"]] if state.get("common") else [])


def _traces(state: dict) -> list[dict]:
    """The waiting traces, and those remembered as neighbours (absent from states stored before
    they were kept)."""
    return state["pending"] + state.get("placed", [])


def _packed(state: dict) -> dict:
    """Vectors as bytes (float32 for traces, float64 for issue sums): a third of the size of
    BSON arrays, and far faster to encode."""
    for pending in _traces(state):
        pending["vectors"]["matrix"] = Binary(np.asarray(pending["vectors"]["matrix"], dtype=np.float32).tobytes())
    for centroid in _centroids(state):
        centroid["sums"] = Binary(np.asarray(centroid["sums"], dtype=np.float64).tobytes())
    return state


def _unpacked(state: dict) -> dict:
    for pending in _traces(state):
        matrix = pending["vectors"]["matrix"]
        if isinstance(matrix, bytes):
            rows = len(pending["vectors"]["present"])
            pending["vectors"]["matrix"] = np.frombuffer(matrix, dtype=np.float32).reshape(rows, -1).copy()
    for centroid in _centroids(state):
        sums = centroid["sums"]
        if isinstance(sums, bytes):
            rows = len(centroid["counts"])
            centroid["sums"] = np.frombuffer(sums, dtype=np.float64).reshape(rows, -1).copy()
    return state


class MongoAgentRecords:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([IndexModel([("workspace", ASCENDING), ("issueIds", ASCENDING)])])

    @store_call
    async def get(self, workspace: str, agent_id: str) -> AgentRecord | None:
        document = await self._collection.find_one({"_id": _key(workspace, agent_id)})
        if document is None:
            return None
        return AgentRecord(
            workspace=workspace,
            agent_id=agent_id,
            state=AgentState.from_document(_unpacked(document["state"])),
            seen=document["seen"],
            owed=[OwedCommand(**command) for command in document["owed"]],
            issue_versions=document["issueVersions"],
            version=document["version"],
        )

    @store_call
    async def save(self, record: AgentRecord) -> None:
        document = {
            "workspace": record.workspace,
            "agentId": record.agent_id,
            "state": _packed(record.state.to_document()),
            "issueIds": [issue.id for issue in record.state.issues],
            "seen": record.seen,
            "owed": [asdict(command) for command in record.owed],
            "issueVersions": record.issue_versions,
            "version": record.version + 1,
            "updatedAt": utc_now(),
        }
        key = _key(record.workspace, record.agent_id)
        if record.version == 0:
            try:
                await self._collection.insert_one({"_id": key, **document})
            except DuplicateKeyError as error:
                raise ConcurrentUpdate(key) from error
        else:
            result = await self._collection.replace_one({"_id": key, "version": record.version}, document)
            if result.matched_count == 0:
                raise ConcurrentUpdate(key)
        record.version += 1

    @store_call
    async def agent_of_issue(self, workspace: str, issue_id: str) -> str | None:
        document = await self._collection.find_one({"workspace": workspace, "issueIds": issue_id}, {"agentId": 1})
        return document["agentId"] if document else None


class MongoManualTraces:
    """One document per manual issue (its trace ids, the issue version they are from): one write
    per issue event however many traces it holds, and a multikey index answers `among`."""

    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([
            IndexModel([("workspace", ASCENDING), ("traceIds", ASCENDING)]),
            IndexModel([("purgeAt", ASCENDING)], expireAfterSeconds=0),
        ])

    @store_call
    async def record(self, workspace: str, issue_id: str, version: int, trace_ids: list[str]) -> None:
        fields = {"workspace": workspace, "traceIds": trace_ids, "version": version,
                  "purgeAt": utc_now() + MANUAL_TRACES_KEPT_FOR}
        try:
            await self._collection.update_one({"_id": _key(workspace, issue_id), "version": {"$lt": version}},
                                              {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            pass  # a later version of the issue is already recorded

    @store_call
    async def forget(self, workspace: str, issue_id: str) -> None:
        await self._collection.delete_one({"_id": _key(workspace, issue_id)})

    @store_call
    async def among(self, workspace: str, trace_ids: list[str]) -> set[str]:
        found = set()
        for part in chunks(trace_ids):
            wanted = set(part)
            async for document in self._collection.find({"workspace": workspace, "traceIds": {"$in": part}},
                                                        {"traceIds": 1}):
                found.update(wanted.intersection(document["traceIds"]))
        return found
