"""The Issue aggregate: a cluster of failing traces of one agent, and its lifecycle."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.contracts.common import new_id
from shared.contracts.errors import Conflict
from shared.contracts.issues import (
    MAX_TRACES_PER_ISSUE,
    CreateIssue,
    FixSummary,
    IssueCreated,
    IssueDeleted,
    IssueDetail,
    IssueMetadata,
    IssuePatch,
    IssueRegressed,
    IssueSummary,
    IssueUpdated,
)
from shared.store.aggregate import Aggregate

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
STATUS_FROM_FIXES = (("applied", "closed"), ("testing", "testing"), ("proposed", "proposed_fix"))
TOMBSTONE_KEPT_FOR = timedelta(days=7)
REGRESSIONS_KEPT = 50
TRACE_DERIVED = ("first_seen_at", "last_seen_at", "affected_customers")


def new_issue_id() -> str:
    return new_id("iss")


@dataclass(frozen=True)
class FixState:
    """What an issue knows of one of its fixes, as of the fix's `version`; its status as of
    `status_version`, set at `status_changed_at`."""

    id: str
    type: str
    status: str
    version: int
    status_version: int = 1
    status_changed_at: datetime | None = None

    def summary(self) -> FixSummary:
        return FixSummary(id=self.id, type=self.type, status=self.status)


@dataclass(frozen=True)
class TraceKnowledge:
    """What the traces of an issue tell: its metadata, and the name its agent goes by."""

    metadata: IssueMetadata
    agent_name: str | None


@dataclass(frozen=True)
class ShadowTestState:
    """What an issue knows of a shadow test of one of its fixes, as of the test's `version`."""

    id: str
    status: str
    version: int

    @property
    def active(self) -> bool:
        return self.status in ("pending", "running")


@dataclass(frozen=True)
class Regression:
    """A reopening: when, by which command (so that its redelivery answers as the first
    delivery did), and the fix that had closed the issue."""

    at: datetime
    command_id: str
    closed_by_fix_id: str | None


def status_from_fixes(fixes: list[FixState], discounted: frozenset[tuple[str, int]] = frozenset()) -> str:
    """closed if a fix was applied; else testing if one is testing; else proposed_fix if one
    is proposed; else open. A fix in `discounted` (id, status version) is left out: its status
    is one the issue regressed from."""
    statuses = {fix.status for fix in fixes if (fix.id, fix.status_version) not in discounted}
    return next((issue_status for fix_status, issue_status in STATUS_FROM_FIXES if fix_status in statuses), "open")


def _closing_fix(fixes: list[FixState], discounted: frozenset[tuple[str, int]], default_at: datetime) -> str | None:
    """The applied fix that closes the issue (the one applied last, when there are several)."""
    applied = [fix for fix in fixes if fix.status == "applied" and (fix.id, fix.status_version) not in discounted]
    return max(applied, key=lambda fix: fix.status_changed_at or default_at).id if applied else None


@dataclass(frozen=True)
class _FixTakenIn:
    fixes: list[FixState]
    regressed_fixes: list[tuple[str, int]]
    status: str | None


def _merged[State: (FixState, ShadowTestState)](states: list[State], news: State) -> tuple[State | None, list[State]]:
    """The state known of `news.id` (None if none), and `states` with `news` in its place."""
    known = next((each for each in states if each.id == news.id), None)
    kept = [news if each.id == news.id else each for each in states]
    return known, kept if known else [*kept, news]


@dataclass
class Issue(Aggregate):
    id: str
    workspace: str
    title: str
    description: str
    agent_id: str
    agent_name: str | None
    severity: str
    status: str
    trace_ids: list[str]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    fixes: list[FixState] = field(default_factory=list)
    shadow_tests: list[ShadowTestState] = field(default_factory=list)
    metadata: IssueMetadata = field(default_factory=IssueMetadata)
    source: str = "manual"
    manual_status_at: datetime | None = None
    closed_by_fix_id: str | None = None
    regressions: list[Regression] = field(default_factory=list)
    regressed_fixes: list[tuple[str, int]] = field(default_factory=list)
    """The applied fixes (id, status version) the issue regressed from: they close it no more."""
    deleted_at: datetime | None = None

    @classmethod
    def open(
        cls, issue_id: str, workspace: str, command: CreateIssue, now: datetime, known: TraceKnowledge | None = None
    ) -> "Issue":
        known = known or TraceKnowledge(IssueMetadata(), None)
        issue = cls(
            id=issue_id,
            workspace=workspace,
            title=command.title,
            description=command.description,
            agent_id=command.agent_id,
            agent_name=command.agent_name or known.agent_name,
            severity=command.severity,
            status="open",
            trace_ids=list(command.trace_ids),
            tags=list(command.tags),
            created_at=now,
            updated_at=now,
            metadata=known.metadata.model_copy(update={"cluster_confidence": command.cluster_confidence}),
            source=command.source,
        )
        issue.events.append(IssueCreated(workspace=workspace, issue=issue.detail(), version=issue.version))
        return issue

    @property
    def trace_count(self) -> int:
        return len(self.trace_ids)

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK[self.severity]

    @property
    def purge_after(self) -> datetime | None:
        return self.deleted_at + TOMBSTONE_KEPT_FOR if self.deleted_at else None

    def apply(self, patch: IssuePatch, now: datetime, command_id: str) -> None:
        """Applies a PATCH; one that changes nothing leaves the issue as it is (same version, no event)."""
        changes = patch.given()
        changed = sorted(name for name, value in changes.items() if getattr(self, name) != value)
        if not changed:
            return
        for name in changed:
            setattr(self, name, changes[name])
        if "status" in changed:
            self.manual_status_at = now
            self.closed_by_fix_id = None
        self._changed(now, command_id)
        self._updated(changed)

    def record_fix(self, fix: FixState, now: datetime, event_id: str, seen_after: Sequence[str] = ()) -> None:
        """Takes in news of a fix. Stale or repeated news (a version already seen) changes
        nothing. When the fix's status moved since what the issue knew (by its status version,
        so news arriving out of order is judged right), the issue's status is derived again from
        all its fixes, overriding a manual status set before that move (a reopening by a
        regression counts as one); fixes applied before the last regression are left out.
        When the news would close the issue by `fix` but the issue holds failing traces seen
        after the fix was applied (`seen_after`, see `applied_at_if_closing`: they were attached
        before the news came), the fix did not hold: the issue regresses instead, as it would
        have had they been attached after the news."""
        taken = self._taken_in(fix, event_id)
        if taken is None:
            return
        self.fixes, self.regressed_fixes = taken.fixes, taken.regressed_fixes
        changed = ["fixes"]
        if taken.status is not None:
            closing = self._closing_fix_id() if taken.status == "closed" else None
            contradicting = self._held(seen_after) if closing == fix.id else []
            if contradicting:
                self._regress_on_news(fix, contradicting, now, event_id)
                return
            self.closed_by_fix_id = closing
            if taken.status != self.status:
                self.status = taken.status
                changed.append("status")
        self._changed(now, event_id)
        self._updated(changed)

    def applied_at_if_closing(self, fix: FixState, event_id: str) -> datetime | None:
        """When taking in this news would close the issue by `fix`: the time the fix was applied.
        Failing traces of the issue seen after then are what `record_fix` needs as `seen_after`."""
        taken = self._taken_in(fix, event_id)
        if taken is None or taken.status != "closed":
            return None
        closing = _closing_fix(taken.fixes, frozenset(taken.regressed_fixes), self.created_at)
        return fix.status_changed_at if closing == fix.id else None

    def _taken_in(self, fix: FixState, event_id: str) -> "_FixTakenIn | None":
        """What taking in news of a fix would make of the issue's fixes and status (status None:
        left as it is); None when the news is stale or repeated."""
        known, merged = _merged(self.fixes, fix)
        if (known and known.version >= fix.version) or self.has_applied(event_id):
            return None
        regressed = self.regressed_fixes
        if self._applied_before_regression(fix):
            regressed = [*regressed, (fix.id, fix.status_version)]
        status_moved = fix.status_version > known.status_version if known else fix.status != "draft"
        after_manual = (self.manual_status_at is None or fix.status_changed_at is None
                        or fix.status_changed_at > self.manual_status_at)
        derived = status_from_fixes(merged, frozenset(regressed)) if status_moved and after_manual else None
        return _FixTakenIn(merged, regressed, derived)

    def _held(self, trace_ids: list[str]) -> list[str]:
        wanted = set(trace_ids)
        return [trace_id for trace_id in self.trace_ids if trace_id in wanted]

    def _regress_on_news(self, fix: FixState, trace_ids: list[str], now: datetime, event_id: str) -> None:
        was_open = self.status == "open"
        self._reopen(now)
        self._changed(now, event_id)
        self._updated(["fixes", "metadata"] if was_open else ["fixes", "metadata", "status"])
        self._record_regression(now, event_id, fix.id, trace_ids)

    def _applied_before_regression(self, fix: FixState) -> bool:
        """News, come late, of a fix applied before the issue last regressed."""
        regressed_at = self.metadata.regressed_at
        return (fix.status == "applied" and regressed_at is not None and fix.status_changed_at is not None
                and fix.status_changed_at <= regressed_at and (fix.id, fix.status_version) not in self.regressed_fixes)

    def _closing_fix_id(self) -> str | None:
        return _closing_fix(self.fixes, frozenset(self.regressed_fixes), self.created_at)

    def attach(self, trace_ids: list[str], known: TraceKnowledge, now: datetime, command_id: str) -> bool:
        """Adds the traces it does not hold yet and takes in what its traces now tell. A
        `closed` issue that gets a new trace reopens (a regression): status `open`, as a manual
        status change would (a fix event from before now does not close it again), and the fixes
        applied so far close it no more. Returns whether it reopened."""
        held = set(self.trace_ids)
        new = [trace_id for trace_id in trace_ids if trace_id not in held]
        if not new:
            return False
        if len(self.trace_ids) + len(new) > MAX_TRACES_PER_ISSUE:
            raise Conflict(f"Issue {self.id} holds {len(self.trace_ids)} traces; {len(new)} more would pass the "
                           f"limit of {MAX_TRACES_PER_ISSUE}")
        self.trace_ids = [*self.trace_ids, *new]
        self.metadata = self._with_trace_knowledge(known.metadata)
        changed = ["metadata", "traceCount", "traceIds"]
        if self.agent_name is None and known.agent_name is not None:
            self.agent_name = known.agent_name
            changed.append("agentName")
        closed_by = self.closed_by_fix_id
        reopened = self.status == "closed"
        if reopened:
            self._reopen(now)
            changed.append("status")
        self._changed(now, command_id)
        self._updated(sorted(changed))
        if reopened:
            self._record_regression(now, command_id, closed_by, new)
        return reopened

    def _record_regression(self, now: datetime, command_id: str, closed_by: str | None, trace_ids: list[str]) -> None:
        self.regressions = [*self.regressions, Regression(now, command_id, closed_by)][-REGRESSIONS_KEPT:]
        self.events.append(IssueRegressed(workspace=self.workspace, issue=self.summary(), trace_ids=trace_ids,
                                          closed_by_fix_id=closed_by, regression_count=self.metadata.regression_count,
                                          version=self.version))

    def _reopen(self, now: datetime) -> None:
        applied = [(fix.id, fix.status_version) for fix in self.fixes if fix.status == "applied"]
        self.regressed_fixes = [*self.regressed_fixes, *(each for each in applied if each not in self.regressed_fixes)]
        self.status, self.manual_status_at, self.closed_by_fix_id = "open", now, None
        self.metadata = self.metadata.model_copy(
            update={"regressed_at": now, "regression_count": self.metadata.regression_count + 1})

    def regression_by(self, command_id: str) -> Regression | None:
        return next((each for each in self.regressions if each.command_id == command_id), None)

    def _with_trace_knowledge(self, derived: IssueMetadata) -> IssueMetadata:
        """Its metadata with what the traces derive replaced, the rest (cluster confidence,
        regressions) kept."""
        return self.metadata.model_copy(update={name: getattr(derived, name) for name in TRACE_DERIVED})

    def _updated(self, changed: list[str]) -> None:
        self.events.append(IssueUpdated(workspace=self.workspace, issue=self.detail(), changed_fields=changed,
                                        version=self.version))

    def learn_from_traces(self, known: TraceKnowledge, now: datetime, event_id: str,
                          seen_after: Sequence[str] = ()) -> None:
        """Takes in what its traces tell: the metadata they derive, and the agent's name when
        the issue has none yet (a name given at creation stays). An issue closed by a fix that
        holds failing traces seen after that fix was applied (`seen_after`, see
        `applied_at_if_contradicted`: their facts came after the news of the fix) regresses,
        as `record_fix` would have had they come first."""
        changed = []
        if (metadata := self._with_trace_knowledge(known.metadata)) != self.metadata:
            self.metadata = metadata
            changed.append("metadata")
        if self.agent_name is None and known.agent_name is not None:
            self.agent_name = known.agent_name
            changed.append("agentName")
        closed_by = self.closed_by_fix_id
        contradicting = self._held(seen_after) if self._closing_applied_at() else []
        if contradicting:
            self._reopen(now)
            changed = sorted({*changed, "metadata", "status"})
        if changed:
            self._changed(now, event_id)
            self._updated(changed)
        if contradicting:
            self._record_regression(now, event_id, closed_by, contradicting)

    def applied_at_if_contradicted(self, known: TraceKnowledge) -> datetime | None:
        """When the issue is closed by a fix and these traces were last seen after that fix was
        applied: the time it was applied (the traces seen after it are `learn_from_traces`'s
        `seen_after`)."""
        applied_at, last_seen = self._closing_applied_at(), known.metadata.last_seen_at
        return applied_at if applied_at and last_seen and last_seen > applied_at else None

    def _closing_applied_at(self) -> datetime | None:
        if self.status != "closed" or self.closed_by_fix_id is None:
            return None
        return next((fix.status_changed_at for fix in self.fixes if fix.id == self.closed_by_fix_id), None)

    def record_shadow_test(self, test: ShadowTestState, now: datetime, event_id: str) -> None:
        """Keeps track of the tests of its fixes, to refuse deletion while one is active."""
        known, merged = _merged(self.shadow_tests, test)
        if (known and known.version >= test.version) or self.has_applied(event_id):
            return
        self.shadow_tests = merged
        self._changed(now, event_id, visible=False)

    @property
    def active_shadow_tests(self) -> list[str]:
        return [test.id for test in self.shadow_tests if test.active]

    def delete(self, now: datetime, command_id: str, active_shadow_tests: list[str] = ()) -> None:
        """Refuses while a shadow test of one of its fixes is pending or running, as far as the
        issue knows or as `active_shadow_tests` says."""
        active = sorted({*self.active_shadow_tests, *active_shadow_tests})
        if active:
            raise Conflict(
                f"Issue {self.id} has active shadow tests ({', '.join(active)}); wait for them to complete or "
                "stop them with PATCH /api/shadow-tests/:id {\"status\": \"failed\"}"
            )
        self.deleted_at = now
        self._changed(now, command_id)
        self.events.append(IssueDeleted(workspace=self.workspace, issue_id=self.id, issue=self.detail(),
                                        version=self.version))

    def _changed(self, now: datetime, command_id: str, visible: bool = True) -> None:
        """Bookkeeping of every change; a change users cannot see leaves `updatedAt` alone."""
        if visible:
            self.updated_at = max(now, self.updated_at)
        self.next_version(command_id)

    def summary(self) -> IssueSummary:
        return IssueSummary.model_validate(self._view_fields())

    def detail(self) -> IssueDetail:
        return IssueDetail.model_validate(
            {
                **self._view_fields(),
                "trace_ids": self.trace_ids,
                "fixes": [fix.summary() for fix in self.fixes],
                "metadata": self.metadata,
            }
        )

    def _view_fields(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "status": self.status,
            "trace_count": self.trace_count,
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "tags": self.tags,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "source": self.source,
        }
