"""The shadow runner's collections: `shadow_tests` (a test, its status changes as versioned
writes with their events) and `shadow_test_results` (one document per trace of a test, keyed
so that a trace is counted once however many runners replay it; `control` marks a control
trace's, which tallies leave out)."""

from dataclasses import asdict

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.shadow_runner.domain.model import ACTIVE, IssueContext, ShadowTest, Tally
from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import ListShadowTests, ShadowStatistics, ShadowTestConfig, TraceResult
from shared.store.creation import CREATION_INDEX, Creation
from shared.store.documents import VersionedDocuments
from shared.store.mongo import count_matching, find_page, store_call
from shared.store.outbox import OUTBOX_INDEX

STATUS_FIELDS = ("status", "startedAt", "completedAt", "failure", "tally", "counted", "statistics", "version")


class MongoShadowTests(VersionedDocuments):
    def __init__(self, tests: AsyncCollection, results: AsyncCollection):
        super().__init__(tests)
        self._results = results

    async def ensure_indexes(self) -> None:
        newest = [("createdAt", DESCENDING), ("_id", DESCENDING)]
        await self._collection.create_indexes(
            [
                CREATION_INDEX,
                OUTBOX_INDEX,
                IndexModel([("workspace", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("fixId", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("status", ASCENDING), *newest]),
                IndexModel([("workspace", ASCENDING), ("fix.issueId", ASCENDING), ("status", ASCENDING)]),
            ]
        )
        await self._results.create_indexes([IndexModel([("testId", ASCENDING), ("recordedAt", ASCENDING)])])

    async def add(self, test: ShadowTest, creation: Creation, outbox: list[Envelope]) -> None:
        await self.insert(_to_document(test), creation, outbox)

    @store_call
    async def get(self, workspace: str, test_id: str) -> ShadowTest | None:
        document = await self._collection.find_one({"_id": test_id, "workspace": workspace}, {"outbox": 0})
        return _from_document(document) if document else None

    async def save(self, test: ShadowTest, outbox: list[Envelope]) -> None:
        """Stores a status change, if nobody changed the test since it was read."""
        await self.replace(_to_document(test), test.read_version, outbox, only=STATUS_FIELDS)

    @store_call
    async def has_result(self, test_id: str, trace_id: str) -> bool:
        return await self._results.find_one({"_id": f"{test_id}/{trace_id}"}, {"_id": 1}) is not None

    @store_call
    async def record_result(self, test_id: str, result: TraceResult, control: bool = False) -> bool:
        """Keeps a trace's result; False if the trace has one already."""
        try:
            await self._results.insert_one(
                {"_id": f"{test_id}/{result.trace_id}", "testId": test_id, "recordedAt": utc_now(),
                 "control": control, "result": result.to_wire()}
            )
        except DuplicateKeyError:
            return False
        return True

    @store_call
    async def result_count(self, test_id: str) -> int:
        return await count_matching(self._results, {"testId": test_id})

    @store_call
    async def tally(self, test_id: str) -> Tally:
        return (await self._tallies([test_id])).get(test_id, Tally())

    @store_call
    async def verdicts(self, test_id: str) -> dict[str, str]:
        """The verdict of each trace of the test recorded so far, by trace id."""
        cursor = self._results.find({"testId": test_id}, {"result.traceId": 1, "result.verdict": 1})
        return {document["result"]["traceId"]: document["result"]["verdict"] async for document in cursor}

    @store_call
    async def results(self, test: ShadowTest) -> list[TraceResult]:
        """The test's results (a test failed before it kept which it counted: those recorded
        before it failed)."""
        criteria: dict = {"testId": test.id}
        if test.status == "failed" and test.counted is None:
            criteria["recordedAt"] = {"$lte": test.completed_at}
        cursor = self._results.find(criteria).sort("recordedAt", ASCENDING)
        return [TraceResult.model_validate(document["result"]) async for document in cursor]

    @store_call
    async def active_ids_for_issue(self, workspace: str, issue_id: str) -> list[str]:
        cursor = self._collection.find(
            {"workspace": workspace, "fix.issueId": issue_id, "status": {"$in": sorted(ACTIVE)}}, {"_id": 1}
        )
        return [document["_id"] async for document in cursor]

    @store_call
    async def find_page(self, workspace: str, query: ListShadowTests) -> tuple[list[ShadowTest], int]:
        criteria = {"workspace": workspace}
        for name, value in (("fixId", query.fix_id), ("status", query.status)):
            if value is not None:
                criteria[name] = value
        documents, total = await find_page(
            self._collection, query, criteria, [("createdAt", DESCENDING), ("_id", DESCENDING)],
            {"outbox": 0, "creation": 0}
        )
        tests = [_from_document(document) for document in documents]
        live = await self._tallies([test.id for test in tests if test.active])
        for test in tests:
            test.tally = live.get(test.id, test.tally)
        return tests, total

    async def _tallies(self, test_ids: list[str]) -> dict[str, Tally]:
        if not test_ids:
            return {}
        counts: dict[str, dict[str, int]] = {}
        cursor = await self._results.aggregate([
            {"$match": {"testId": {"$in": test_ids}, "control": {"$ne": True}}},
            {"$group": {"_id": {"test": "$testId", "verdict": "$result.verdict"}, "count": {"$sum": 1}}},
        ])
        async for row in cursor:
            counts.setdefault(row["_id"]["test"], {})[row["_id"]["verdict"]] = row["count"]
        return {test_id: Tally.of(verdicts) for test_id, verdicts in counts.items()}


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
        "tally": list(test.tally.counts),
        "counted": test.counted,
        "statistics": test.statistics.to_wire() if test.statistics else None,
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
        tally=Tally(tuple(document.get("tally") or ())),
        counted=document.get("counted"),
        statistics=ShadowStatistics.model_validate(document["statistics"]) if document.get("statistics") else None,
        version=document["version"],
    )
