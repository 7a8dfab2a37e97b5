"""Traces: immutable records of agent runs. Ids are the caller's, or `tr_…` when absent."""

import hashlib
from collections import Counter
from datetime import datetime

from shared.contracts.errors import ErrorDetail, ExpectedError, InvalidRequest
from shared.contracts.traces import Trace, TraceInput


def stored_traces(inputs: list[TraceInput], command_id: str, now: datetime) -> list[Trace]:
    """The batch as it will be stored: every trace with an id, none given twice, and a
    timestamp (`now`, the time of ingestion, when not given). A trace without an id gets one
    derived from the command and its place in the batch, so the same command delivered again
    (or sent again with the same Idempotency-Key) stores nothing twice."""
    given = Counter(trace.id for trace in inputs if trace.id is not None)
    repeated = [
        ErrorDetail(field=f"traces.{index}.id", message=f"trace id {trace.id} appears more than once in this batch")
        for index, trace in enumerate(inputs)
        if trace.id is not None and given[trace.id] > 1
    ]
    if repeated:
        raise InvalidRequest("Invalid request body: a trace id appears more than once", repeated)
    return [
        Trace.model_validate({
            **trace.model_dump(),
            "id": trace.id or _derived_id(command_id, index),
            "timestamp": trace.timestamp if "timestamp" in trace.model_fields_set else now,
            "ingested_at": now,
        })
        for index, trace in enumerate(inputs)
    ]


def partly_stored[E: ExpectedError](error: E, inputs: list[TraceInput], traces: list[Trace]) -> E:
    """The store failed after writing the batch began: the same error (503 or 504), saying
    that part of the batch may be stored and how to send it again safely. The ids derived for
    traces sent without one are listed, since only the same command derives them again."""
    unnamed = [ErrorDetail(field=f"traces.{index}.id", message=f"stored as {trace.id}, if it was stored")
               for index, (given, trace) in enumerate(zip(inputs, traces, strict=True)) if given.id is None]
    message = (f"{error.message}. Part of this batch may have been stored: sending the same request again with "
               "the same Idempotency-Key stores each trace exactly once. Without the key, traces sent with an id "
               "are stored once")
    if unnamed:
        message += ", and those sent without one are stored once only if sent with the ids listed in details"
    return type(error)(message + ".", unnamed or None)


def _derived_id(command_id: str, index: int) -> str:
    return "tr_" + hashlib.sha256(f"{command_id}:{index}".encode()).hexdigest()[:20]
