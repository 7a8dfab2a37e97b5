"""Which spans make an agent run, and when the spans of a trace are complete enough to map.

A run is what one agent did: an agent span (`invoke_agent`, OpenInference `AGENT`, Traceloop
`agent`) and the spans under it, except those under an agent span it invokes, which is a run
of its own. A trace without agent spans is one run: its root span and everything under it.
Each run becomes one of our traces, its id derived from the OpenTelemetry ids so that spans
sent again map to the same trace: `otel-<trace id>` for a run whose root span has no parent,
`otel-<trace id>-<span id>` for one whose root sits inside the trace (a nested agent, or an
agent under a request span).

Spans of a trace arrive in several exports and in any order. The trace is assembled, all its
runs at once, when it is whole (a span without a parent has arrived, and every parent any
span names has arrived too), or once no span of it has arrived for the quiet period: then
runs are made of what arrived, and spans whose parent never came belong to no agent's run.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.traces.domain.genai_dialects import kind_of
from services.traces.domain.otlp import SpanRecord

QUIET_PERIOD = timedelta(seconds=30)
MAX_SPANS_PER_TRACE = 20_000


@dataclass(frozen=True)
class Run:
    trace_id: str
    root: SpanRecord
    spans: tuple[SpanRecord, ...]
    """The root and the spans it owns, by start time."""
    ancestors: tuple[SpanRecord, ...] = ()
    """The spans above the root, nearest first."""


@dataclass(frozen=True)
class Assembly:
    ready: bool
    reason: str
    runs: tuple[Run, ...] = ()
    left_out: int = 0
    """Spans that belong to no run (their parent never arrived, or nothing models in them)."""


def by_trace(spans: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return dict(traces)


def assemble(spans: Iterable[SpanRecord], last_arrival: datetime, now: datetime,
             quiet_period: timedelta = QUIET_PERIOD) -> Assembly:
    """The runs of one trace's spans collected so far, if they are ready to map. A span sent
    twice counts once. `last_arrival` is when the newest of them arrived."""
    unique = {span.span_id: span for span in spans}
    missing = sorted({span.parent_span_id for span in unique.values()
                      if span.parent_span_id is not None and span.parent_span_id not in unique})
    has_root = any(span.parent_span_id is None for span in unique.values())
    if has_root and not missing:
        reason = "whole"
    elif len(unique) >= MAX_SPANS_PER_TRACE:
        reason = "too many spans to wait for more"
    elif now - last_arrival >= quiet_period:
        reason = "quiet"
    else:
        waiting = f"span {missing[0]}, a parent" if missing else "its root span"
        return Assembly(ready=False, reason=f"waiting for {waiting}")
    runs = _runs(unique)
    owned = {span.span_id for run in runs for span in (*run.spans, *run.ancestors)}
    return Assembly(ready=True, reason=reason, runs=tuple(runs), left_out=len(unique.keys() - owned))


def _runs(spans: dict[str, SpanRecord]) -> list[Run]:
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans.values():
        if span.parent_span_id in spans:
            children[span.parent_span_id].append(span)
    agents = _ordered(span for span in spans.values() if kind_of(span) == "agent")
    if agents:
        return [Run(trace_id=_trace_id(agent), root=agent, spans=tuple(_ordered(_owned(agent, children))),
                    ancestors=tuple(_ancestors(agent, spans))) for agent in agents]
    return _runs_without_agents(spans, children)


def _runs_without_agents(spans: dict[str, SpanRecord], children: dict[str, list[SpanRecord]]) -> list[Run]:
    """Each root span with what is under it; spans whose parent never arrived, one run per
    missing parent (named after it)."""
    tops = _ordered(span for span in spans.values() if span.parent_span_id not in spans)
    roots = [top for top in tops if top.parent_span_id is None]
    groups: dict[str, list[SpanRecord]] = defaultdict(list)
    for top in tops:
        if top.parent_span_id is None:
            key = f"otel-{top.trace_id}" if len(roots) == 1 else f"otel-{top.trace_id}-{top.span_id}"
        else:
            key = f"otel-{top.trace_id}-{top.parent_span_id}"
        groups[key].append(top)
    runs = []
    for trace_id, group in groups.items():
        owned = _ordered(span for top in group for span in _owned(top, children))
        if any(kind_of(span) == "model" for span in owned):
            runs.append(Run(trace_id=trace_id, root=group[0], spans=tuple(owned)))
    return runs


def _owned(root: SpanRecord, children: dict[str, list[SpanRecord]]) -> list[SpanRecord]:
    owned, pending, seen = [root], [root], {root.span_id}
    while pending:
        for child in children.get(pending.pop().span_id, ()):
            if child.span_id not in seen and kind_of(child) != "agent":
                seen.add(child.span_id)
                owned.append(child)
                pending.append(child)
    return owned


def _ancestors(root: SpanRecord, spans: dict[str, SpanRecord]) -> list[SpanRecord]:
    ancestors, seen, parent = [], {root.span_id}, root.parent_span_id
    while parent in spans and parent not in seen:
        seen.add(parent)
        ancestors.append(spans[parent])
        parent = spans[parent].parent_span_id
    return ancestors


def _ordered(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    return sorted(spans, key=lambda span: (span.start_ns, span.end_ns, span.span_id))


def _trace_id(root: SpanRecord) -> str:
    return f"otel-{root.trace_id}" if root.parent_span_id is None else f"otel-{root.trace_id}-{root.span_id}"
