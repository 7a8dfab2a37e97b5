"""Traces: immutable records of agent runs. Ids are the caller's, or `tr_…` when absent."""

import hashlib
from collections import Counter
from datetime import datetime

from shared.contracts.errors import ErrorDetail, InvalidRequest
from shared.contracts.traces import Trace, TraceInput


def stored_traces(inputs: list[TraceInput], command_id: str, now: datetime) -> list[Trace]:
    """The batch as it will be stored: every trace with an id, none given twice. A trace
    without an id gets one derived from the command and its place in the batch, so the same
    command delivered again stores nothing twice."""
    given = Counter(trace.id for trace in inputs if trace.id is not None)
    repeated = [
        ErrorDetail(field=f"traces.{index}.id", message=f"trace id {trace.id} appears more than once in this batch")
        for index, trace in enumerate(inputs)
        if trace.id is not None and given[trace.id] > 1
    ]
    if repeated:
        raise InvalidRequest("Invalid request body: a trace id appears more than once", repeated)
    return [
        Trace.model_validate(
            {**trace.model_dump(), "id": trace.id or _derived_id(command_id, index), "ingested_at": now}
        )
        for index, trace in enumerate(inputs)
    ]


def _derived_id(command_id: str, index: int) -> str:
    return "tr_" + hashlib.sha256(f"{command_id}:{index}".encode()).hexdigest()[:20]
