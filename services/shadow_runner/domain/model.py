"""The ShadowTest aggregate: a fix replayed over historical traces, and its lifecycle.

    pending ──► running ──► completed
       │           │
       └───────────┴──────► failed

A test is `running` from the first trace started and `completed` when every trace has a
result. Results are appended one per trace (never twice) while the test is active; a failed
test takes no more.
"""

from dataclasses import dataclass, field
from datetime import datetime

from shared.contracts.common import new_id
from shared.contracts.errors import Conflict
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import (
    ReplayRequested,
    ShadowResults,
    ShadowTestCompleted,
    ShadowTestConfig,
    ShadowTestCreated,
    ShadowTestDetail,
    ShadowTestFailed,
    ShadowTestStarted,
    ShadowTestView,
    TraceResult,
)

ACTIVE = frozenset({"pending", "running"})


def new_shadow_test_id() -> str:
    return new_id("st")


@dataclass(frozen=True)
class IssueContext:
    """The issue the fix addresses, as the judge is told about it."""

    id: str
    title: str
    description: str


def results_of(trace_results: list[TraceResult], error: str | None = None) -> ShadowResults:
    counts = {verdict: 0 for verdict in ("improved", "unchanged", "regressed", "errored")}
    for result in trace_results:
        counts[result.verdict] += 1
    scored = counts["improved"] + counts["unchanged"] + counts["regressed"]
    rate = round(counts["improved"] / scored, 4) if scored else None
    return ShadowResults(**counts, improvement_rate=rate, error=error)


@dataclass
class ShadowTest:
    id: str
    workspace: str
    fix: FixView
    issue: IssueContext | None
    trace_ids: list[str]
    config: ShadowTestConfig
    status: str
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failure: str | None = None
    trace_results: list[TraceResult] = field(default_factory=list)
    version: int = 1
    read_version: int = field(init=False)
    events: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.read_version = self.version

    @classmethod
    def create(
        cls, test_id: str, workspace: str, fix: FixView, issue: IssueContext | None, trace_ids: list[str],
        config: ShadowTestConfig, now: datetime,
    ) -> "ShadowTest":
        test = cls(test_id, workspace, fix, issue, list(trace_ids), config, "pending", now)
        test.events.append(ShadowTestCreated(test=test.view(), issue_id=test.issue_id, version=test.version))
        test.events += [ReplayRequested(shadow_test_id=test_id, trace_id=trace_id) for trace_id in trace_ids]
        return test

    @property
    def issue_id(self) -> str | None:
        return self.fix.issue_id

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def has_result(self, trace_id: str) -> bool:
        return any(result.trace_id == trace_id for result in self.trace_results)

    def start(self, now: datetime) -> None:
        if self.status == "pending":
            self.status, self.started_at = "running", now
            self._changed(ShadowTestStarted)

    def complete_if_done(self, now: datetime) -> None:
        if self.status == "running" and len(self.trace_results) >= len(self.trace_ids):
            self.status, self.completed_at = "completed", now
            self._changed(ShadowTestCompleted)

    def fail(self, error: str, now: datetime) -> None:
        if not self.active:
            raise Conflict(f"Shadow test {self.id} is {self.status}; only a pending or running test can be failed")
        self.status, self.completed_at, self.failure = "failed", now, error
        self._changed(ShadowTestFailed)

    def _changed(self, event_type) -> None:
        self.version += 1
        self.events.append(event_type(test=self.view(), issue_id=self.issue_id, version=self.version))

    def view(self) -> ShadowTestView:
        return ShadowTestView.model_validate(self._view_fields())

    def detail(self) -> ShadowTestDetail:
        return ShadowTestDetail.model_validate({**self._view_fields(), "trace_results": self.trace_results})

    def _view_fields(self) -> dict:
        return {
            "id": self.id,
            "fix_id": self.fix.id,
            "status": self.status,
            "trace_count": len(self.trace_ids),
            "config": self.config,
            "results": results_of(self.trace_results, self.failure),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }
