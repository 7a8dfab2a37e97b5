"""Failing traces of known failure modes, in the API's trace format, from the clustering
development set (eval/clustering/traces.jsonl): each mode's traces repeated under new ids and
customers to make a batch as large as wanted."""

import json
from datetime import UTC, datetime, timedelta

from eval.clustering.dataset import records

MODES = ("invoice_tool_error", "seatmap_timeout", "refund_window_wrong", "cancellation_blocked", "timezone_wrong")


def mode_traces(mode: str, count: int, prefix: str, start: datetime | None = None) -> list[dict]:
    """`count` traces of `mode` (its traces in turn), ids `<prefix>_<mode>_<n>`."""
    originals = [r for r in records("dev") if r["mode"] == mode]
    start = start or datetime.now(UTC) - timedelta(hours=1)
    traces = []
    for n in range(count):
        trace = json.loads(json.dumps(originals[n % len(originals)]))
        trace.pop("mode")
        trace.update(id=f"{prefix}_{mode}_{n}", customerId=f"c_{mode[:4]}_{n % 7}",
                     timestamp=(start + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"))
        traces.append(trace)
    return traces


def batch(per_mode: int, prefix: str, modes: tuple[str, ...] = MODES) -> list[dict]:
    """`per_mode` traces of each mode, the modes interleaved as they would arrive."""
    by_mode = [mode_traces(mode, per_mode, prefix) for mode in modes]
    return [trace for row in zip(*by_mode, strict=True) for trace in row]


def mode_of(trace_id: str) -> str:
    return next(mode for mode in MODES if f"_{mode}_" in trace_id)
