"""Traces: immutable records of agent runs. Ids are the caller's, or `tr_…` when absent."""

from collections import Counter
from datetime import datetime

from shared.contracts.common import new_id
from shared.contracts.errors import ErrorDetail, InvalidRequest
from shared.contracts.traces import Trace, TraceFact, TraceInput


def stored_traces(inputs: list[TraceInput], now: datetime) -> list[Trace]:
    """The batch as it will be stored: every trace with an id, none given twice."""
    given = Counter(trace.id for trace in inputs if trace.id is not None)
    repeated = [
        ErrorDetail(field=f"traces.{index}.id", message=f"trace id {trace.id} appears more than once in this batch")
        for index, trace in enumerate(inputs)
        if trace.id is not None and given[trace.id] > 1
    ]
    if repeated:
        raise InvalidRequest("Invalid request body: a trace id appears more than once", repeated)
    return [
        Trace.model_validate({**trace.model_dump(), "id": trace.id or new_id("tr"), "ingested_at": now})
        for trace in inputs
    ]


def fact(trace: Trace) -> TraceFact:
    return TraceFact(
        id=trace.id,
        agent_id=trace.agent_id,
        agent_name=trace.agent_name,
        customer_id=trace.customer_id,
        timestamp=trace.timestamp,
    )
