"""The ShadowTest aggregate: a fix replayed over historical traces, and its lifecycle.

    pending ──► running ──► completed
       │           │
       └───────────┴──────► failed

A test is `running` from the first trace started and `completed` when every trace (the
issue's and the controls) has a result; its statistics are computed then. Results are kept
apart from the test (one per trace, never twice); a test's `tally` counts those of the issue's
traces, and is fixed when the test completes or fails. A failed test keeps which results it
counted and lists exactly those: runners may record results while it is being failed.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.shadow_runner.domain.commands import ReplayRequested
from services.shadow_runner.domain.significance import Sample, statistics
from shared.contracts.common import new_id
from shared.contracts.errors import Conflict, ErrorDetail, InvalidRequest
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import (
    ShadowResults,
    ShadowStatistics,
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


def check_controls(trace_ids: list[str], control_trace_ids: list[str]) -> None:
    """Control traces are outside the test: a trace cannot be both an issue trace and a control."""
    tested = set(trace_ids)
    shared = [(n, trace_id) for n, trace_id in enumerate(control_trace_ids) if trace_id in tested]
    if shared:
        raise InvalidRequest(
            f"config.controlTraceIds must not repeat traceIds: {', '.join(trace_id for _, trace_id in shared)}",
            [ErrorDetail(field=f"config.controlTraceIds.{n}", message=f"trace {trace_id} is also in traceIds")
             for n, trace_id in shared],
        )


@dataclass(frozen=True)
class IssueContext:
    """The issue the fix addresses, as the judge is told about it."""

    id: str
    title: str
    description: str


VERDICTS = ("improved", "unchanged", "regressed", "errored", "diverged")


@dataclass(frozen=True)
class Tally:
    """How many traces got each verdict (in the order of `VERDICTS`; a tally stored before
    `diverged` existed has four counts, and none diverged)."""

    counts: tuple[int, ...] = (0,) * len(VERDICTS)

    def __post_init__(self) -> None:
        if len(self.counts) < len(VERDICTS):
            object.__setattr__(self, "counts", tuple(self.counts) + (0,) * (len(VERDICTS) - len(self.counts)))

    @classmethod
    def of(cls, verdicts: Mapping[str, int]) -> "Tally":
        return cls(tuple(verdicts.get(verdict, 0) for verdict in VERDICTS))

    @classmethod
    def counting(cls, verdicts: Iterable[str]) -> "Tally":
        return cls.of(Counter(verdicts))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def results(self, error: str | None = None, statistics: ShadowStatistics | None = None) -> ShadowResults:
        counts = dict(zip(VERDICTS, self.counts, strict=True))
        scored = counts["improved"] + counts["unchanged"] + counts["regressed"]
        rate = round(counts["improved"] / scored, 4) if scored else None
        figures = dict(statistics) if statistics is not None else {}
        return ShadowResults(**counts, improvement_rate=rate, error=error, **figures)


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
    statistics: ShadowStatistics | None = None
    """A completed test's significance and recommendation (None for other tests)."""
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
        test.events += [ReplayRequested(shadow_test_id=test_id, trace_id=trace_id) for trace_id in test.all_trace_ids]
        return test

    @property
    def control_trace_ids(self) -> list[str]:
        return self.config.control_trace_ids

    @property
    def all_trace_ids(self) -> list[str]:
        """The traces replayed: the issue's, then the controls."""
        return [*self.trace_ids, *self.control_trace_ids]

    def is_control(self, trace_id: str) -> bool:
        return trace_id in set(self.control_trace_ids)

    def statistics_of(self, results: Iterable[TraceResult]) -> ShadowStatistics:
        """The statistics of these results, the controls' apart (CPU-bound: a bootstrap)."""
        controls = set(self.control_trace_ids)
        results = list(results)
        issue = Sample.of(result for result in results if result.trace_id not in controls)
        control = Sample.of(result for result in results if result.trace_id in controls) if controls else None
        return statistics(issue, control)

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

    def complete(self, tally: Tally, statistics: ShadowStatistics, now: datetime) -> None:
        """Completes a running test once every trace, controls included, has a result:
        `tally` counts the issue's traces, `statistics` were computed from all the results."""
        self.tally = tally
        if self.status == "running":
            self.status, self.completed_at, self.statistics = "completed", now, statistics
            self._changed(ShadowTestCompleted)

    def fail(self, error: str, verdicts: Mapping[str, str], now: datetime) -> None:
        """Stops the test with the results recorded so far (`verdicts`, by trace id) as its
        final counts."""
        if not self.active:
            raise Conflict(f"Shadow test {self.id} is {self.status}; only a pending or running test can be failed")
        self.status, self.completed_at, self.failure = "failed", now, error
        controls = set(self.control_trace_ids)
        self.tally = Tally.counting(verdict for trace_id, verdict in verdicts.items() if trace_id not in controls)
        self.counted = sorted(verdicts)
        self._changed(ShadowTestFailed)

    def _changed(self, event_type) -> None:
        self.version += 1
        self.events.append(event_type(test=self.view(), issue_id=self.issue_id, version=self.version))

    def view(self) -> ShadowTestView:
        return ShadowTestView.model_validate(self._view_fields())

    def detail(self, trace_results: list[TraceResult]) -> ShadowTestDetail:
        """The test with its results: for an active test all of them, counted as they are now;
        for a failed one those it counted."""
        if self.counted is not None and not self.active:
            counted = set(self.counted)
            trace_results = [result for result in trace_results if result.trace_id in counted]
        controls = set(self.control_trace_ids)
        issue = [result for result in trace_results if result.trace_id not in controls]
        tally = Tally.counting(result.verdict for result in issue) if self.active else self.tally
        return ShadowTestDetail.model_validate({
            **self._view_fields(tally), "trace_results": issue,
            "control_trace_results": [result for result in trace_results if result.trace_id in controls],
        })

    def _view_fields(self, tally: Tally | None = None) -> dict:
        return {
            "id": self.id,
            "fix_id": self.fix.id,
            "status": self.status,
            "trace_count": len(self.trace_ids),
            "config": self.config,
            "results": (tally or self.tally).results(self.failure, self.statistics),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }
