"""The `issues` collection: one document per issue, its pending events in its `outbox`."""

from dataclasses import asdict

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.issues.domain.model import SEVERITY_RANK, FixState, Issue, Regression, ShadowTestState
from shared.contracts.envelope import Envelope
from shared.contracts.issues import IssueMetadata, ListIssues
from shared.store.creation import CREATION_INDEX, Creation
from shared.store.documents import VersionedDocuments
from shared.store.mongo import chunks, find_page, store_call
from shared.store.outbox import OUTBOX_INDEX

LIVE = {"deleted": False}
HIDDEN = {"outbox": 0, "creation": 0, "appliedCommands": 0}
SORT_KEYS = {
    "createdAt": ["createdAt"],
    "severity": ["severityRank", "createdAt"],
    "traceCount": ["traceCount", "createdAt"],
}


class MongoIssueRepository(VersionedDocuments):
    async def ensure_indexes(self) -> None:
        def listing(*keys: str) -> IndexModel:
            return IndexModel(
                [("workspace", ASCENDING), ("deleted", ASCENDING), *[(key, DESCENDING) for key in keys],
                 ("_id", DESCENDING)]
            )

        await self._collection.create_indexes(
            [
                CREATION_INDEX,
                listing("createdAt"),
                listing("severityRank", "createdAt"),  # also serves the severity filter
                listing("traceCount", "createdAt"),
                IndexModel([("workspace", ASCENDING), ("deleted", ASCENDING), ("agentId", ASCENDING),
                            ("createdAt", DESCENDING), ("_id", DESCENDING)]),
                IndexModel([("workspace", ASCENDING), ("deleted", ASCENDING), ("status", ASCENDING),
                            ("createdAt", DESCENDING), ("_id", DESCENDING)]),
                IndexModel([("workspace", ASCENDING), ("deleted", ASCENDING), ("source", ASCENDING),
                            ("createdAt", DESCENDING), ("_id", DESCENDING)]),
                OUTBOX_INDEX,
                IndexModel([("workspace", ASCENDING), ("traceIds", ASCENDING)]),
                IndexModel([("purgeAt", ASCENDING)], expireAfterSeconds=0),
            ]
        )

    async def add(self, issue: Issue, creation: Creation, outbox: list[Envelope]) -> None:
        await self.insert(_to_document(issue), creation, outbox)

    @store_call
    async def get(self, workspace: str, issue_id: str, include_deleted: bool = False) -> Issue | None:
        criteria = {"_id": issue_id, "workspace": workspace} | ({} if include_deleted else LIVE)
        document = await self._collection.find_one(criteria)
        return _from_document(document) if document else None

    async def save(self, issue: Issue, outbox: list[Envelope]) -> None:
        await self.replace(_to_document(issue), issue.read_version, outbox, where=LIVE)

    @store_call
    async def ids_learning_from(self, workspace: str, trace_ids: list[str], agent_ids: list[str]) -> list[str]:
        """Live issues that link one of these traces, or have no agent name and one of these agents."""
        found: dict[str, None] = {}
        for part in chunks(trace_ids) or [[]]:
            cursor = self._collection.find(
                {
                    "workspace": workspace,
                    **LIVE,
                    "$or": [{"traceIds": {"$in": part}}, {"agentId": {"$in": agent_ids}, "agentName": None}],
                },
                {"_id": 1},
            )
            found.update({document["_id"]: None async for document in cursor})
        return list(found)

    @store_call
    async def find_page(self, workspace: str, query: ListIssues) -> tuple[list[Issue], int]:
        criteria = {"workspace": workspace, **LIVE}
        if query.severity is not None:
            criteria["severityRank"] = SEVERITY_RANK[query.severity]
        for field, value in (("agentId", query.agent_id), ("status", query.status)):
            if value is not None:
                criteria[field] = value
        if query.source is not None:
            criteria["source"] = {"$in": ["manual", None]} if query.source == "manual" else query.source
        direction = DESCENDING if query.sort_order == "desc" else ASCENDING
        sort = [(key, direction) for key in [*SORT_KEYS[query.sort_by], "_id"]]
        documents, total = await find_page(self._collection, query, criteria, sort, HIDDEN)
        return [_from_document(document) for document in documents], total


def _to_document(issue: Issue) -> dict:
    return {
        "_id": issue.id,
        "workspace": issue.workspace,
        "title": issue.title,
        "description": issue.description,
        "agentId": issue.agent_id,
        "agentName": issue.agent_name,
        "severity": issue.severity,
        "severityRank": issue.severity_rank,
        "status": issue.status,
        "traceIds": issue.trace_ids,
        "traceCount": issue.trace_count,
        "tags": issue.tags,
        "fixes": [asdict(fix) for fix in issue.fixes],
        "source": issue.source,
        "manualStatusAt": issue.manual_status_at,
        "closedByFixId": issue.closed_by_fix_id,
        "regressions": [asdict(regression) for regression in issue.regressions],
        "regressedFixes": [{"id": fix_id, "statusVersion": version} for fix_id, version in issue.regressed_fixes],
        "shadowTests": [asdict(test) for test in issue.shadow_tests],
        "metadata": issue.metadata.model_dump(by_alias=True),
        "createdAt": issue.created_at,
        "updatedAt": issue.updated_at,
        "version": issue.version,
        "deleted": issue.deleted_at is not None,
        "deletedAt": issue.deleted_at,
        "purgeAt": issue.purge_after,
        "appliedCommands": issue.commands_applied_since_read,
    }


def _from_document(document: dict) -> Issue:
    return Issue(
        id=document["_id"],
        workspace=document["workspace"],
        title=document["title"],
        description=document["description"],
        agent_id=document["agentId"],
        agent_name=document.get("agentName"),
        severity=document["severity"],
        status=document["status"],
        trace_ids=document.get("traceIds", []),
        tags=document["tags"],
        created_at=document["createdAt"],
        updated_at=document["updatedAt"],
        fixes=[FixState(**fix) for fix in document.get("fixes", [])],
        shadow_tests=[ShadowTestState(**test) for test in document.get("shadowTests", [])],
        manual_status_at=document.get("manualStatusAt"),
        source=document.get("source", "manual"),
        closed_by_fix_id=document.get("closedByFixId", _closing_fix_before_it_was_kept(document)),
        regressions=[Regression(**regression) for regression in document.get("regressions", [])],
        regressed_fixes=[(fix["id"], fix["statusVersion"]) for fix in document.get("regressedFixes", [])],
        metadata=IssueMetadata.model_validate(document.get("metadata", {})),
        version=document["version"],
        deleted_at=document.get("deletedAt"),
        applied_commands=document.get("appliedCommands", []),
    )


def _closing_fix_before_it_was_kept(document: dict) -> str | None:
    """A document stored before `closedByFixId` was: a closed issue nobody set by hand was
    closed by its applied fix."""
    if document["status"] != "closed" or document.get("manualStatusAt") is not None:
        return None
    return next((fix["id"] for fix in document.get("fixes", []) if fix["status"] == "applied"), None)
