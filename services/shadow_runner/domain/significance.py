"""How sure a shadow test's counts are, and what they recommend (docs/statistics.md).

- The sign test: the traces that moved either way are the evidence; under "the fix makes no
  difference" each is as likely to have improved as regressed, so `improved` out of
  `improved + regressed` is Binomial(n, 1/2). Two-sided and exact (`scipy.stats.binomtest`).
- The improvement rate, improved / scored traces, with its Wilson 95% interval.
- The mean score change (fixed minus original, over traces scored both times), with a 95%
  paired-bootstrap interval (traces resampled with replacement, each keeping its two scores;
  BCa, a fixed seed, so the same results always give the same interval).
- The recommendation: `reject` when the controls regressed significantly (a collateral
  regression vetoes whatever the issue's traces say), else `ship` or `reject` when the issue's
  traces moved significantly one way, else `inconclusive` with `minimum_traces`.

Undefined figures: with no trace moved the p-value is 1.0; with no scored trace the improvement
rate's interval is None; with no score change the mean is None, and with fewer than two its
interval is None.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats

from shared.contracts.shadow_tests import (
    MAX_TRACES_PER_TEST,
    ControlResults,
    Interval,
    ShadowStatistics,
    Significance,
)

ALPHA = 0.05
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_BATCH = 500
BOOTSTRAP_SEED = 11
MOST_TRACES = 100 * MAX_TRACES_PER_TEST
"""The largest test `minimum_traces` looks for; beyond it, no number is given."""
PLACES = 4


class Scored(Protocol):
    """One trace's result, as a TraceResult has it."""

    @property
    def verdict(self) -> str: ...

    @property
    def original_score(self) -> float | None: ...

    @property
    def fixed_score(self) -> float | None: ...


@dataclass(frozen=True)
class Sample:
    """The verdicts of a group of traces (the issue's, or the controls') and their score changes."""

    improved: int = 0
    unchanged: int = 0
    regressed: int = 0
    errored: int = 0
    changes: tuple[float, ...] = ()
    diverged: int = 0

    @classmethod
    def of(cls, results: Iterable[Scored]) -> "Sample":
        results = list(results)
        counts = Counter(result.verdict for result in results)
        changes = tuple(
            result.fixed_score - result.original_score for result in results
            if result.verdict in ("improved", "unchanged", "regressed")
            and result.original_score is not None and result.fixed_score is not None
        )
        return cls(counts["improved"], counts["unchanged"], counts["regressed"], counts["errored"], changes,
                   counts["diverged"])

    @property
    def scored(self) -> int:
        return self.improved + self.unchanged + self.regressed

    @property
    def replayed(self) -> int:
        return self.scored + self.errored + self.diverged

    @property
    def improvement_rate(self) -> float | None:
        return round(self.improved / self.scored, PLACES) if self.scored else None

    def describe(self) -> str:
        described = f"{self.improved} improved and {self.regressed} regressed of {self.scored} scored"
        if self.diverged:
            described += (f", {self.diverged} of {self.replayed} diverged (called a tool the original run never "
                          "did: neither improved nor regressed)")
        return described


def sign_test(improved: int, regressed: int) -> float:
    """Two-sided exact sign test; 1.0 when no trace moved (there is no evidence either way)."""
    if improved + regressed == 0:
        return 1.0
    return float(stats.binomtest(improved, improved + regressed, 0.5).pvalue)


def improvement_rate_ci(improved: int, scored: int) -> Interval | None:
    if scored == 0:
        return None
    interval = stats.binomtest(improved, scored).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return round(float(interval.low), PLACES), round(float(interval.high), PLACES)


def mean_change_ci(changes: tuple[float, ...]) -> Interval | None:
    """95% paired-bootstrap interval of the mean change; None from fewer than two changes, and
    the one value when all are equal (every resample has that mean). The changes are sorted
    first, so that the order the results come in does not move the interval."""
    if len(changes) < 2:
        return None
    if len(set(changes)) == 1:
        return round(changes[0], PLACES), round(changes[0], PLACES)
    result = stats.bootstrap(
        (np.sort(np.asarray(changes)),), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, batch=BOOTSTRAP_BATCH,
        confidence_level=CONFIDENCE, method="BCa", rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return round(low, PLACES), round(high, PLACES)


def significance(sample: Sample) -> Significance:
    mean = round(float(np.mean(sample.changes)), PLACES) if sample.changes else None
    return Significance(
        p_value=sign_test(sample.improved, sample.regressed),
        improvement_rate_ci95=improvement_rate_ci(sample.improved, sample.scored),
        mean_score_change=mean,
        mean_score_change_ci95=mean_change_ci(sample.changes),
    )


def minimum_traces(sample: Sample) -> int | None:
    """The smallest test, larger than this one, whose sign test would reach p < ALPHA if its
    verdicts fell in the proportions seen (errored traces included): for n traces, improved and
    regressed are n × their share of the traces replayed, rounded half up. None when the two
    shares are equal (no number decides), nothing was replayed, or more than MOST_TRACES would
    be needed."""
    if sample.improved == sample.regressed:
        return None
    start, size = sample.replayed + 1, max(sample.replayed + 1, 64)
    while start <= MOST_TRACES:
        n = np.arange(start, min(start + size, MOST_TRACES + 1))
        improved = np.floor(n * sample.improved / sample.replayed + 0.5)
        regressed = np.floor(n * sample.regressed / sample.replayed + 0.5)
        # binomtest's two-sided p-value, for every n at once: Binomial(n, 1/2) is symmetric.
        p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(improved, regressed), improved + regressed, 0.5))
        deciding = np.flatnonzero(p < ALPHA)
        if deciding.size:
            return int(n[deciding[0]])
        start, size = start + size, size * 2
    return None


def control_results(sample: Sample) -> ControlResults:
    return ControlResults(
        improved=sample.improved, unchanged=sample.unchanged, regressed=sample.regressed, errored=sample.errored,
        diverged=sample.diverged, improvement_rate=sample.improvement_rate, significance=significance(sample),
    )


def _moved(sample: Sample, tested: Significance) -> str | None:
    """Which way the traces moved significantly, if they did."""
    if tested.p_value >= ALPHA:
        return None
    return "improved" if sample.improved > sample.regressed else "regressed"


def statistics(issue: Sample, control: Sample | None = None) -> ShadowStatistics:
    """The statistics of a test over the issue's traces and, apart, its control traces."""
    tested = significance(issue)
    checked = control_results(control) if control is not None else None
    evidence = f"{issue.describe()} (sign test p = {tested.p_value:.3g})"
    guard = _guard(control, checked)
    if checked is not None and _moved(control, checked.significance) == "regressed":
        return ShadowStatistics(
            significance=tested, recommendation="reject", control=checked,
            recommendation_reason=f"the controls regressed significantly ({guard}); issue traces: {evidence}",
        )
    moved = _moved(issue, tested)
    if moved is not None:
        return ShadowStatistics(
            significance=tested, recommendation="ship" if moved == "improved" else "reject", control=checked,
            recommendation_reason=f"{evidence}; {guard}",
        )
    needed = minimum_traces(issue)
    return ShadowStatistics(
        significance=tested, recommendation="inconclusive", minimum_traces=needed, control=checked,
        recommendation_reason=f"{evidence}, not significant at {ALPHA}: {_short_of(issue, needed)}; {guard}",
    )


def _guard(control: Sample | None, checked: ControlResults | None) -> str:
    if control is None or checked is None:
        return "no controls replayed"
    return f"controls: {control.describe()}, sign test p = {checked.significance.p_value:.3g}"


def _short_of(issue: Sample, needed: int | None) -> str:
    if issue.scored == 0:
        return "no trace was scored"
    if issue.improved == issue.regressed == 0:
        return "no trace moved either way"
    if issue.improved == issue.regressed:
        return "as many improved as regressed, so no number of traces would decide"
    if needed is None:
        return f"more than {MOST_TRACES} traces would be needed to decide"
    return f"a test of {needed} traces would decide if these proportions held"
