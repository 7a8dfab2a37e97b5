"""The `shadow_tests` collection. Status changes are versioned writes with their events;
trace results are appended atomically, at most one per trace and only while the test is
active, so any number of runners can record results side by side."""

from dataclasses import asdict

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.shadow_runner.domain.model import ACTIVE, IssueContext, ShadowTest
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import ListShadowTests, ShadowTestConfig, TraceResult
from shared.messaging.mongo import (
    CREATION_INDEX,
    OUTBOX_INDEX,
    ConcurrentUpdate,
    Creation,
    VersionedDocuments,
    push_outbox,
    store_call,
)

STATUS_FIELDS = ("status", "startedAt", "completedAt", "failure", "version")


class MongoShadowTests(VersionedDocuments):
    async def ensure_indexes(self) -> None:
        newest = [("createdAt", DESCENDING), ("_id", DESCENDING)]
        await self._collection.create_indexes(
            [
                CREATION_INDEX,
                OUTBOX_INDEX,
                IndexModel([("workspace", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("fixId", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("status", ASCENDING), *newest]),
            ]
        )

    async def add(self, test: ShadowTest, creation: Creation, outbox: list[Envelope]) -> None:
        await self.insert(_to_document(test), creation, outbox)

    @store_call
    async def get(self, workspace: str, test_id: str) -> ShadowTest | None:
        document = await self._collection.find_one({"_id": test_id, "workspace": workspace}, {"outbox": 0})
        return _from_document(document) if document else None

    @store_call
    async def save_status(self, test: ShadowTest, outbox: list[Envelope]) -> None:
        """Stores a status change (never the results, which runners append meanwhile)."""
        document = _to_document(test)
        result = await self._collection.update_one(
            {"_id": test.id, "workspace": test.workspace, "version": test.read_version},
            {"$set": {name: document[name] for name in STATUS_FIELDS}, "$push": push_outbox(outbox)},
        )
        if result.matched_count == 0:
            raise ConcurrentUpdate(test.id)

    @store_call
    async def record_result(self, workspace: str, test_id: str, result: TraceResult) -> bool:
        """Appends a trace's result; False if it has one already or the test is not active."""
        outcome = await self._collection.update_one(
            {
                "_id": test_id,
                "workspace": workspace,
                "status": {"$in": sorted(ACTIVE)},
                "traceResults.traceId": {"$ne": result.trace_id},
            },
            {"$push": {"traceResults": result.to_wire()}},
        )
        return outcome.modified_count == 1

    @store_call
    async def find_page(self, workspace: str, query: ListShadowTests) -> tuple[list[ShadowTest], int]:
        criteria = {"workspace": workspace}
        for name, value in (("fixId", query.fix_id), ("status", query.status)):
            if value is not None:
                criteria[name] = value
        cursor = (
            self._collection.find(criteria, {"outbox": 0, "creation": 0})
            .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
            .skip((query.page - 1) * query.limit)
            .limit(query.limit)
        )
        documents = await cursor.to_list()
        return [_from_document(d) for d in documents], await self._collection.count_documents(criteria)


def _to_document(test: ShadowTest) -> dict:
    return {
        "_id": test.id,
        "workspace": test.workspace,
        "fixId": test.fix.id,
        "fix": test.fix.model_dump(by_alias=True),
        "issue": asdict(test.issue) if test.issue else None,
        "traceIds": test.trace_ids,
        "config": test.config.to_wire(),
        "status": test.status,
        "createdAt": test.created_at,
        "startedAt": test.started_at,
        "completedAt": test.completed_at,
        "failure": test.failure,
        "traceResults": [result.to_wire() for result in test.trace_results],
        "version": test.version,
    }


def _from_document(document: dict) -> ShadowTest:
    return ShadowTest(
        id=document["_id"],
        workspace=document["workspace"],
        fix=FixView.model_validate(document["fix"]),
        issue=IssueContext(**document["issue"]) if document.get("issue") else None,
        trace_ids=document["traceIds"],
        config=ShadowTestConfig.model_validate(document["config"]),
        status=document["status"],
        created_at=document["createdAt"],
        started_at=document.get("startedAt"),
        completed_at=document.get("completedAt"),
        failure=document.get("failure"),
        trace_results=[TraceResult.model_validate(result) for result in document.get("traceResults", [])],
        version=document["version"],
    )
