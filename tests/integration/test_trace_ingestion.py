"""Ingesting a batch against a real store that fails part of the way: the answer says what
may be stored and how to send the batch again, and sending it again so stores each trace once."""

import uuid
from datetime import UTC, datetime

import pytest

from services.traces import bootstrap, handlers
from services.traces.adapters.mongo_repository import WRITE_CHUNK, MongoTraceStore
from shared.contracts.errors import Unavailable
from shared.contracts.traces import IngestTraces
from shared.messaging.commands import CommandContext

NOW = datetime(2025, 8, 15, tzinfo=UTC)


@pytest.fixture
async def trace_store(scratch_database):
    store = MongoTraceStore(scratch_database["traces"], scratch_database["trace_ingestions"])
    await store.ensure_indexes()
    return store


def batch(size: int) -> list[dict]:
    """Even places without an id, odd ones with one."""
    return [{**({"id": f"tr_named_{n}"} if n % 2 else {}), "agentId": "a", "model": {"name": "m"},
             "input": [{"role": "user", "content": f"q{n}"}], "output": "o"} for n in range(size)]


def ingest(traces: list[dict]) -> IngestTraces:
    return IngestTraces.model_validate({"traces": traces})


def failing_after(store: MongoTraceStore, chunks_stored: int) -> None:
    """The store takes `chunks_stored` inserts, then takes one more but its answer is lost."""
    real, calls = store._insert_free, {"n": 0}

    async def insert(documents):
        calls["n"] += 1
        taken = await real(documents)
        if calls["n"] > chunks_stored:
            store._insert_free = real
            raise Unavailable("The store is unreachable; try again shortly")
        return taken

    store._insert_free = insert


async def stored(store: MongoTraceStore) -> list[str]:
    return [document["id"] async for document in store._collection.find({"workspace": "ws"}, {"id": 1})]


async def test_a_failure_part_of_the_way_says_so_and_the_same_key_stores_the_rest_once(trace_store):
    deps = bootstrap.build(trace_store, announce=lambda: None, clock=lambda: NOW)
    ctx = CommandContext("idem-batch", "ws", "owner", "corr")
    traces = batch(3 * WRITE_CHUNK)
    failing_after(trace_store, 1)
    with pytest.raises(Unavailable) as failed:
        await handlers.ingest_traces(ingest(traces), ctx, deps)
    assert "Part of this batch may have been stored" in failed.value.message
    assert "the same Idempotency-Key stores each trace exactly once" in failed.value.message
    assert len(await stored(trace_store)) == 2 * WRITE_CHUNK

    again = await handlers.ingest_traces(ingest(traces), ctx, deps)
    assert len(set(again.created)) == 3 * WRITE_CHUNK and again.existing == [] and again.replayed
    assert sorted(await stored(trace_store)) == sorted(again.created)


async def test_without_a_key_the_answer_names_the_ids_that_make_sending_again_safe(trace_store):
    deps = bootstrap.build(trace_store, announce=lambda: None, clock=lambda: NOW)
    traces = batch(3 * WRITE_CHUNK)
    failing_after(trace_store, 1)
    with pytest.raises(Unavailable) as failed:
        await handlers.ingest_traces(ingest(traces), CommandContext(uuid.uuid4().hex, "ws", None, "c1"), deps)
    named = {int(detail.field.split(".")[1]): detail.message.split()[2].rstrip(",")
             for detail in failed.value.details}
    assert sorted(named) == list(range(0, 3 * WRITE_CHUNK, 2))
    assert all(message.startswith("stored as tr_") for message in (d.message for d in failed.value.details))

    resent = [{**trace, "id": named.get(index, trace.get("id"))} for index, trace in enumerate(traces)]
    answer = await handlers.ingest_traces(ingest(resent), CommandContext(uuid.uuid4().hex, "ws", None, "c2"), deps)
    assert len(answer.existing) == 2 * WRITE_CHUNK and len(answer.created) == WRITE_CHUNK
    assert sorted(await stored(trace_store)) == sorted(answer.created + answer.existing)
