"""An in-memory trace store, written as `MongoTraceStore` writes: a chunk at a time, and able
to fail part of the way."""

from datetime import timedelta

from services.traces.ports import WaitingTrace
from shared.contracts.errors import ExpectedError, Unavailable
from shared.contracts.traces import ListTraces, Trace


class FakeTraceStore:
    """`fail_at_chunk`: that chunk is stored but its answer is lost (raises `failure`), once."""

    def __init__(self, chunk: int = 20):
        self.chunk = chunk
        self.traces: dict[tuple[str, str], tuple[Trace, dict]] = {}
        self.claims: dict[tuple[str, str], str] = {}
        self.fail_at_chunk: int | None = None
        self.failure: ExpectedError = Unavailable("The store is unreachable; try again shortly")

    async def claim_command(self, workspace, command_id, fingerprint):
        seen = self.claims.get((workspace, command_id))
        if seen is None:
            self.claims[(workspace, command_id)] = fingerprint
            return "first"
        return "again" if seen == fingerprint else "other body"

    async def insert_new(self, workspace, traces, ingestion):
        inserted, holders = [], {}
        for index in range(0, len(traces), self.chunk):
            for trace in traces[index:index + self.chunk]:
                if (workspace, trace.id) in self.traces:
                    holders[trace.id] = self.traces[(workspace, trace.id)][1]
                else:
                    self.traces[(workspace, trace.id)] = (trace, ingestion)
                    inserted.append(trace.id)
            if self.fail_at_chunk == index // self.chunk:
                self.fail_at_chunk = None
                raise self.failure
        return inserted, holders

    async def get(self, workspace, trace_id):
        found = self.traces.get((workspace, trace_id))
        return found[0] if found else None

    async def existing_ids(self, workspace, trace_ids):
        return {trace_id for trace_id in trace_ids if (workspace, trace_id) in self.traces}

    async def find_page(self, workspace, query: ListTraces):
        mine = [trace for (w, _), (trace, _) in self.traces.items() if w == workspace
                and query.agent_id in (None, trace.agent_id)]
        mine.sort(key=lambda trace: (trace.timestamp, trace.id), reverse=True)
        start = (query.page - 1) * query.limit
        return mine[start:start + query.limit], len(mine)

    def stored(self, workspace: str = "ws") -> list[str]:
        return [trace_id for (w, trace_id) in self.traces if w == workspace]


class CountingAnnouncer:
    def __init__(self):
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


class FakeSpanBuffer:
    """An in-memory `SpanBuffer`, keeping what `MongoSpanBuffer` keeps."""

    def __init__(self):
        self.spans: dict[tuple[str, str], dict[str, object]] = {}
        self.waiting: dict[tuple[str, str], dict] = {}

    async def add(self, workspace, spans, now, correlation_id, actor):
        touched = {}
        for span in spans:
            record = self.waiting.setdefault((workspace, span.trace_id), {"assembled": False, "hasRoot": False,
                                                                         "leaseUntil": None})
            if record["assembled"]:
                continue
            record.update(lastArrival=now, correlationId=correlation_id, actor=actor)
            record["hasRoot"] |= span.parent_span_id is None
            self.spans.setdefault((workspace, span.trace_id), {})[span.span_id] = span
            touched[span.trace_id] = record["hasRoot"]
        return touched

    async def spans_of(self, workspace, trace_id):
        return list(self.spans.get((workspace, trace_id), {}).values())

    async def claim_quiet(self, arrived_before, now, lease_seconds, limit):
        claimed = []
        for (workspace, trace_id), record in self.waiting.items():
            if (not record["assembled"] and record["lastArrival"] < arrived_before
                    and (record["leaseUntil"] is None or record["leaseUntil"] < now) and len(claimed) < limit):
                record["leaseUntil"] = now + timedelta(seconds=lease_seconds)
                claimed.append(WaitingTrace(workspace, trace_id, record["lastArrival"], record["correlationId"],
                                            record["actor"]))
        return claimed

    async def state(self, workspace, trace_id):
        record = self.waiting.get((workspace, trace_id))
        return "new" if record is None else "assembled" if record["assembled"] else "waiting"

    async def mark_assembled(self, workspace, trace_id):
        self.waiting.setdefault((workspace, trace_id), {"hasRoot": True, "leaseUntil": None})["assembled"] = True
        self.spans.pop((workspace, trace_id), None)
