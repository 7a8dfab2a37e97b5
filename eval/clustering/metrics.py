"""Clustering quality against labels, for any producer of (trace id → issue id or None).

- ARI: `sklearn.metrics.adjusted_rand_score` over the traces that belong to a failure mode;
  the true cluster is the mode, the predicted one the issue the trace is in, and a trace in
  no issue is its own singleton (so a mode left waiting counts as split into single traces).
  Traces without a mode (one-off failures, passing traces) are left out of the ARI.
- Purity: over the traces in an issue (with or without a mode), the share that are of their
  issue's most common mode, each one-off counting as a mode of its own.
- Coverage: the share of the mode traces that are in an issue.
- One-offs in issues: how many traces without a mode were put in an issue (target: 0).
"""

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from sklearn.metrics import adjusted_rand_score


@dataclass(frozen=True)
class ModeReport:
    mode: str
    traces: int
    placed: int
    issues: int
    in_main_issue: int
    main_issue_purity: float


@dataclass(frozen=True)
class Report:
    ari: float
    purity: float
    coverage: float
    one_offs_in_issues: int
    issues: int
    modes: list[ModeReport]


def score(placements: Mapping[str, str | None], labels: Mapping[str, str | None]) -> Report:
    """`labels`: trace id → failure mode, or None for a one-off (or passing) trace; only the
    traces in `labels` are scored. `placements`: trace id → issue id, None or absent when in
    no issue."""
    placed = {trace: issue for trace in labels if (issue := placements.get(trace)) is not None}
    moded = [trace for trace, mode in labels.items() if mode is not None]
    ari = adjusted_rand_score([labels[t] for t in moded], [placed.get(t, f"unplaced:{t}") for t in moded])
    members: dict[str, list[str]] = defaultdict(list)
    for trace, issue in placed.items():
        members[issue].append(labels[trace] or f"one-off:{trace}")
    majority = {issue: Counter(classes).most_common(1)[0] for issue, classes in members.items()}
    purity = sum(count for _, count in majority.values()) / len(placed) if placed else 0.0
    modes = []
    for mode in sorted({m for m in labels.values() if m is not None}):
        traces = [t for t in moded if labels[t] == mode]
        issues = Counter(placed[t] for t in traces if t in placed)
        main, in_main = issues.most_common(1)[0] if issues else (None, 0)
        main_purity = majority[main][1] / len(members[main]) if main and majority[main][0] == mode else 0.0
        modes.append(ModeReport(mode, len(traces), sum(issues.values()), len(issues), in_main, round(main_purity, 3)))
    return Report(
        ari=round(float(ari), 4),
        purity=round(purity, 4),
        coverage=round(sum(1 for t in moded if t in placed) / len(moded), 4) if moded else 0.0,
        one_offs_in_issues=sum(1 for t in placed if labels[t] is None),
        issues=len(members),
        modes=modes,
    )
