"""The fixes service's collections: `fixes`, and `fixes_deleted_issues` (what it heard of)."""

from dataclasses import asdict
from datetime import timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from services.fixes.domain.model import Fix, ShadowTestState, StatusEntry
from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import ListFixes
from shared.store.creation import CREATION_INDEX, Creation
from shared.store.documents import VersionedDocuments
from shared.store.mongo import find_page, store_call
from shared.store.outbox import OUTBOX_INDEX

DELETED_ISSUES_KEPT_FOR = timedelta(days=30)
NEWEST_FIRST = [("createdAt", DESCENDING), ("_id", DESCENDING)]
HIDDEN = {"outbox": 0, "creation": 0, "appliedCommands": 0}


class MongoFixRepository(VersionedDocuments):
    async def ensure_indexes(self) -> None:
        by_workspace = [("workspace", ASCENDING)]
        newest = [("createdAt", DESCENDING), ("_id", DESCENDING)]
        await self._collection.create_indexes(
            [
                CREATION_INDEX,
                OUTBOX_INDEX,
                IndexModel([*by_workspace, *newest]),
                IndexModel([*by_workspace, ("issueId", ASCENDING), *newest]),
                IndexModel([*by_workspace, ("status", ASCENDING), *newest]),
                IndexModel([*by_workspace, ("type", ASCENDING), *newest]),
            ]
        )

    async def add(self, fix: Fix, creation: Creation, outbox: list[Envelope]) -> None:
        await self.insert(_to_document(fix), creation, outbox)

    @store_call
    async def get(self, workspace: str, fix_id: str) -> Fix | None:
        document = await self._collection.find_one({"_id": fix_id, "workspace": workspace})
        return _from_document(document) if document else None

    async def save(self, fix: Fix, outbox: list[Envelope]) -> None:
        await self.replace(_to_document(fix), fix.read_version, outbox)

    @store_call
    async def find_page(self, workspace: str, query: ListFixes) -> tuple[list[Fix], int]:
        criteria = {"workspace": workspace}
        for name, value in (("issueId", query.issue_id), ("status", query.status), ("type", query.type)):
            if value is not None:
                criteria[name] = value
        documents, total = await find_page(self._collection, query, criteria, NEWEST_FIRST, HIDDEN)
        return [_from_document(document) for document in documents], total

    @store_call
    async def ids_for_issue(self, workspace: str, issue_id: str) -> list[str]:
        cursor = self._collection.find({"workspace": workspace, "issueId": issue_id}, {"_id": 1})
        return [document["_id"] async for document in cursor]


class MongoDeletedIssues:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([IndexModel([("purgeAt", ASCENDING)], expireAfterSeconds=0)])

    @store_call
    async def record(self, workspace: str, issue_id: str) -> None:
        now = utc_now()
        await self._collection.update_one(
            {"_id": f"{workspace}/{issue_id}"},
            {"$setOnInsert": {"deletedAt": now, "purgeAt": now + DELETED_ISSUES_KEPT_FOR}},
            upsert=True,
        )

    @store_call
    async def contains(self, workspace: str, issue_id: str) -> bool:
        return await self._collection.find_one({"_id": f"{workspace}/{issue_id}"}, {"_id": 1}) is not None


def _to_document(fix: Fix) -> dict:
    return {
        "_id": fix.id,
        "workspace": fix.workspace,
        "issueId": fix.issue_id,
        "type": fix.type,
        "status": fix.status,
        "description": fix.description,
        "changes": fix.changes,
        "author": fix.author,
        "shadowTests": [asdict(test) for test in fix.shadow_tests],
        "createdAt": fix.created_at,
        "updatedAt": fix.updated_at,
        "version": fix.version,
        "statusVersion": fix.status_version,
        "statusChangedAt": fix.status_changed_at,
        "statusHistory": [{"status": entry.status, "enteredAt": entry.entered_at} for entry in fix.status_history],
        "appliedCommands": fix.commands_applied_since_read,
    }


def _from_document(document: dict) -> Fix:
    return Fix(
        id=document["_id"],
        workspace=document["workspace"],
        issue_id=document.get("issueId"),
        type=document["type"],
        status=document["status"],
        description=document["description"],
        changes=document["changes"],
        author=document["author"],
        shadow_tests=[ShadowTestState(**test) for test in document.get("shadowTests", [])],
        created_at=document["createdAt"],
        updated_at=document["updatedAt"],
        version=document["version"],
        status_version=document.get("statusVersion", 1),
        status_changed_at=document.get("statusChangedAt"),
        status_history=[StatusEntry(each["status"], each["enteredAt"]) for each in document.get("statusHistory", [])],
        applied_commands=document.get("appliedCommands", []),
    )
