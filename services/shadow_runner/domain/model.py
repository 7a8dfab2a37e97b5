"""The ShadowTest aggregate: a fix replayed over historical traces, and its lifecycle.

    pending ──► running ──► completed
       │           │
       └───────────┴──────► failed

A test is `running` from the first trace started and `completed` when every trace has a
result. Results are kept apart from the test (one per trace, never twice); a test's `tally`
counts them, and is fixed when the test completes or fails. A failed test keeps which results
it counted and lists exactly those: runners may record results while it is being failed.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.shadow_runner.domain.commands import ReplayRequested
from shared.contracts.common import new_id
from shared.contracts.errors import Conflict
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import (
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


VERDICTS = ("improved", "unchanged", "regressed", "errored")


@dataclass(frozen=True)
class Tally:
    """How many traces got each verdict."""

    counts: tuple[int, int, int, int] = (0, 0, 0, 0)

    @classmethod
    def of(cls, verdicts: Mapping[str, int]) -> "Tally":
        return cls(tuple(verdicts.get(verdict, 0) for verdict in VERDICTS))

    @classmethod
    def counting(cls, verdicts: Iterable[str]) -> "Tally":
        return cls.of(Counter(verdicts))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def results(self, error: str | None = None) -> ShadowResults:
        counts = dict(zip(VERDICTS, self.counts, strict=True))
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
    tally: Tally = field(default_factory=Tally)
    counted: list[str] | None = None
    """The traces whose results a failed test's tally counts (None for other tests)."""
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

    def start(self, now: datetime) -> None:
        if self.status == "pending":
            self.status, self.started_at = "running", now
            self._changed(ShadowTestStarted)

    def complete_if_done(self, tally: Tally, now: datetime) -> None:
        self.tally = tally
        if self.status == "running" and tally.total >= len(self.trace_ids):
            self.status, self.completed_at = "completed", now
            self._changed(ShadowTestCompleted)

    def fail(self, error: str, verdicts: Mapping[str, str], now: datetime) -> None:
        """Stops the test with the results recorded so far (`verdicts`, by trace id) as its
        final counts."""
        if not self.active:
            raise Conflict(f"Shadow test {self.id} is {self.status}; only a pending or running test can be failed")
        self.status, self.completed_at, self.failure = "failed", now, error
        self.tally, self.counted = Tally.counting(verdicts.values()), sorted(verdicts)
        self._changed(ShadowTestFailed)

    def _changed(self, event_type) -> None:
        self.version += 1
        self.events.append(event_type(test=self.view(), issue_id=self.issue_id, version=self.version))

    def view(self) -> ShadowTestView:
        return ShadowTestView.model_validate(self._view_fields())

    def detail(self, trace_results: list[TraceResult]) -> ShadowTestDetail:
        """The test with its results: for an active test all of them, counted as they are now;
        for a failed one those it counted."""
        tally = self.tally
        if self.active:
            tally = Tally.counting(result.verdict for result in trace_results)
        elif self.counted is not None:
            counted = set(self.counted)
            trace_results = [result for result in trace_results if result.trace_id in counted]
        return ShadowTestDetail.model_validate({**self._view_fields(tally), "trace_results": trace_results})

    def _view_fields(self, tally: Tally | None = None) -> dict:
        return {
            "id": self.id,
            "fix_id": self.fix.id,
            "status": self.status,
            "trace_count": len(self.trace_ids),
            "config": self.config,
            "results": (tally or self.tally).results(self.failure),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }
