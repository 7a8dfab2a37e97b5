"""In-memory stand-ins for the issues service's store and the outbox relay."""

import copy

from services.issues.domain.model import SEVERITY_RANK, Issue, TraceKnowledge
from shared.contracts.issues import IssueMetadata, ListIssues
from shared.messaging.mongo import AlreadyCreated, ConcurrentUpdate, IdTaken


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


class FakeIssueRepository(InMemoryOutbox):
    def __init__(self):
        super().__init__()
        self.issues: dict[str, Issue] = {}
        self.creations: dict = {}
        self.taken_ids: set[str] = set()
        self.conflicts_to_raise = 0

    async def add(self, issue, creation, outbox):
        if issue.id in self.issues or issue.id in self.taken_ids:
            raise IdTaken(issue.id)
        if (issue.workspace, creation.command_id) in self.creations:
            raise AlreadyCreated(self.creations[(issue.workspace, creation.command_id)])
        self.creations[(issue.workspace, creation.command_id)] = creation
        self.issues[issue.id] = self._stored(issue)
        self.outbox.setdefault(issue.id, []).extend(outbox)

    async def get(self, workspace, issue_id, include_deleted=False):
        issue = self.issues.get(issue_id)
        if issue is None or issue.workspace != workspace or (issue.deleted_at is not None and not include_deleted):
            return None
        return copy.deepcopy(issue)

    async def save(self, issue, outbox):
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise ConcurrentUpdate(issue.id)
        assert self.issues[issue.id].version == issue.read_version
        self.issues[issue.id] = self._stored(issue)
        self.outbox.setdefault(issue.id, []).extend(outbox)

    async def find_page(self, workspace, query: ListIssues):
        live = [i for i in self.issues.values() if i.workspace == workspace and i.deleted_at is None]
        key = {"createdAt": lambda i: i.created_at, "severity": lambda i: SEVERITY_RANK[i.severity],
               "traceCount": lambda i: i.trace_count}[query.sort_by]
        live.sort(key=key, reverse=query.sort_order == "desc")
        start = (query.page - 1) * query.limit
        return live[start:start + query.limit], len(live)

    async def ids_learning_from(self, workspace, trace_ids, agent_ids):
        return [i.id for i in self.issues.values() if i.workspace == workspace and i.deleted_at is None
                and (set(i.trace_ids) & set(trace_ids) or (i.agent_id in agent_ids and i.agent_name is None))]

    def events(self, issue_id: str | None = None) -> list[str]:
        return [event.type for aggregate, events in self.outbox.items() if issue_id in (None, aggregate)
                for event in events]

    @staticmethod
    def _stored(issue: Issue) -> Issue:
        stored = copy.deepcopy(issue)
        stored.events, stored.read_version = [], issue.version
        return stored


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


class NoShadowTests:
    def __init__(self):
        self.active: dict[str, list[str]] = {}

    async def active_for(self, ctx, issue_id):
        return self.active.get(issue_id, [])
