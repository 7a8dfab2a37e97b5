"""In-memory stand-ins for the issues and fixes services' stores, their neighbours, the
record of applied commands and the outbox relay."""

import copy
from collections.abc import Callable

from services.issues.domain.model import SEVERITY_RANK, Issue, TraceKnowledge
from shared.contracts.issues import IssueMetadata, ListIssues
from shared.store.creation import AlreadyCreated, IdTaken
from shared.store.documents import ConcurrentUpdate


class InMemoryOutbox:
    def __init__(self):
        self.outbox: dict[str, list] = {}
        self.leases: dict[str, str] = {}

    async def claim_outbox(self, aggregate_id, holder, until):
        if not self.outbox.get(aggregate_id) or self.leases.get(aggregate_id, holder) != holder:
            return None
        self.leases[aggregate_id] = holder
        return list(self.outbox[aggregate_id])

    async def release_outbox(self, aggregate_id, holder, published):
        if self.leases.get(aggregate_id) != holder:
            return bool(self.outbox.get(aggregate_id))
        del self.leases[aggregate_id]
        self.outbox[aggregate_id] = [e for e in self.outbox[aggregate_id] if e.message_id not in published]
        return bool(self.outbox[aggregate_id])

    async def aggregates_with_pending_outbox(self, recorded_before, limit):
        return [aggregate for aggregate, events in self.outbox.items() if events][:limit]

    def event_types(self) -> list[str]:
        return sorted((event.time, event.type) for events in self.outbox.values() for event in events)


class FakeVersionedStore(InMemoryOutbox):
    """Aggregates by id, written as `VersionedDocuments` writes them: inserted once per command,
    replaced only if still at the version they were read at. `after_read` holds changes that
    other writers make to the stored aggregate right after the next reads."""

    def __init__(self):
        super().__init__()
        self.stored: dict = {}
        self.creations: dict = {}
        self.taken_ids: set[str] = set()
        self.conflicts_to_raise = 0
        self.after_read: list[Callable] = []

    async def add(self, aggregate, creation, outbox):
        if aggregate.id in self.stored or aggregate.id in self.taken_ids:
            raise IdTaken(aggregate.id)
        if (aggregate.workspace, creation.command_id) in self.creations:
            raise AlreadyCreated(self.creations[(aggregate.workspace, creation.command_id)])
        self.creations[(aggregate.workspace, creation.command_id)] = creation
        self.stored[aggregate.id] = self._stored(aggregate)
        self.outbox.setdefault(aggregate.id, []).extend(outbox)

    async def find_creation(self, workspace, command_id):
        return self.creations.get((workspace, command_id))

    def _read(self, aggregate_id: str):
        found = copy.deepcopy(self.stored[aggregate_id])
        if self.after_read:
            stored = self.stored[aggregate_id]
            self.after_read.pop(0)(stored)
            stored.version = stored.read_version = stored.version + 1
        return found

    async def save(self, aggregate, outbox):
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise ConcurrentUpdate(aggregate.id)
        if self.stored[aggregate.id].version != aggregate.read_version:
            raise ConcurrentUpdate(aggregate.id)
        self.stored[aggregate.id] = self._stored(aggregate)
        self.outbox.setdefault(aggregate.id, []).extend(outbox)

    def events(self, aggregate_id: str | None = None) -> list[str]:
        return [event.type for aggregate, events in self.outbox.items() if aggregate_id in (None, aggregate)
                for event in events]

    @staticmethod
    def _stored(aggregate):
        """The aggregate as its document holds it: no pending events, and (as `appliedCommands`)
        only the commands applied since it was read, the earlier ones being in the tracking record."""
        stored = copy.deepcopy(aggregate)
        stored.events, stored.applied_commands = [], list(aggregate.commands_applied_since_read)
        stored.__post_init__()
        return stored


class FakeAppliedCommands:
    """The tracking record of applied commands, kept in memory (no expiry)."""

    def __init__(self):
        self.recorded: dict[tuple[str, str], object] = {}

    async def contains(self, aggregate_id, command_id):
        return (aggregate_id, command_id) in self.recorded

    async def record(self, aggregate_id, command_ids, applied_at):
        for command_id in command_ids:
            self.recorded.setdefault((aggregate_id, command_id), applied_at)


class FakeIssueRepository(FakeVersionedStore):
    @property
    def issues(self) -> dict[str, Issue]:
        return self.stored

    async def get(self, workspace, issue_id, include_deleted=False):
        issue = self.issues.get(issue_id)
        if issue is None or issue.workspace != workspace or (issue.deleted_at is not None and not include_deleted):
            return None
        return self._read(issue_id)

    async def find_page(self, workspace, query: ListIssues):
        live = [i for i in self.issues.values() if i.workspace == workspace and i.deleted_at is None
                and query.source in (None, i.source)]
        key = {"createdAt": lambda i: i.created_at, "severity": lambda i: SEVERITY_RANK[i.severity],
               "traceCount": lambda i: i.trace_count}[query.sort_by]
        live.sort(key=key, reverse=query.sort_order == "desc")
        start = (query.page - 1) * query.limit
        return live[start:start + query.limit], len(live)

    async def ids_learning_from(self, workspace, trace_ids, agent_ids):
        return [i.id for i in self.issues.values() if i.workspace == workspace and i.deleted_at is None
                and (set(i.trace_ids) & set(trace_ids) or (i.agent_id in agent_ids and i.agent_name is None))]


class FakeFixRepository(FakeVersionedStore):
    async def get(self, workspace, fix_id):
        fix = self.stored.get(fix_id)
        return self._read(fix_id) if fix is not None and fix.workspace == workspace else None

    async def find_page(self, workspace, query):
        mine = sorted((f for f in self.stored.values() if f.workspace == workspace), key=lambda f: f.created_at,
                      reverse=True)
        start = (query.page - 1) * query.limit
        return mine[start:start + query.limit], len(mine)

    async def ids_for_issue(self, workspace, issue_id):
        return [f.id for f in self.stored.values() if f.workspace == workspace and f.issue_id == issue_id]


class FakeDeletedIssues:
    def __init__(self):
        self.deleted: set[tuple[str, str]] = set()

    async def record(self, workspace, issue_id):
        self.deleted.add((workspace, issue_id))

    async def contains(self, workspace, issue_id):
        return (workspace, issue_id) in self.deleted


class FakeIssueDirectory:
    def __init__(self, *existing: str):
        self.existing = set(existing)

    async def exists(self, ctx, issue_id):
        return issue_id in self.existing


class RecordingNotifier:
    def __init__(self):
        self.notified: list[str] = []

    def __call__(self, aggregate_id: str) -> None:
        self.notified.append(aggregate_id)


class FakeTraceFacts:
    def __init__(self):
        self.facts: dict[tuple[str, str], object] = {}

    async def record(self, workspace, facts):
        for fact in facts:
            self.facts.setdefault((workspace, fact.id), fact)

    async def knowledge(self, workspace, trace_ids, unnamed_agent):
        known = [self.facts[(workspace, t)] for t in trace_ids if (workspace, t) in self.facts]
        names = [f.agent_name for (w, _), f in self.facts.items() if w == workspace and f.agent_id == unnamed_agent
                 and f.agent_name]
        metadata = IssueMetadata(
            first_seen_at=min((f.timestamp for f in known), default=None),
            last_seen_at=max((f.timestamp for f in known), default=None),
            affected_customers=len({f.customer_id for f in known if f.customer_id}),
        )
        return TraceKnowledge(metadata, names[0] if names else None)

    async def seen_after(self, workspace, trace_ids, after):
        return [t for t in trace_ids if (workspace, t) in self.facts and self.facts[(workspace, t)].timestamp > after]


class NoShadowTests:
    def __init__(self):
        self.active: dict[str, list[str]] = {}

    async def active_for(self, ctx, issue_id):
        return self.active.get(issue_id, [])
