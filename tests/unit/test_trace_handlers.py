"""The traces handlers over an in-memory store: what a batch stores and announces, what the
same command again answers, and what a store failure part of the way says."""

import uuid
from datetime import UTC, datetime

import pytest

from services.traces import bootstrap, handlers
from shared.contracts.errors import Conflict, DeadlineExceeded, InvalidRequest, NotFound, Unavailable
from shared.contracts.traces import FindMissingTraces, GetTrace, IngestTraces, ListTraces
from shared.messaging.commands import CommandContext
from tests.unit.trace_fakes import CountingAnnouncer, FakeTraceStore

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
CHUNK = 20


@pytest.fixture
def deps():
    return bootstrap.build(FakeTraceStore(CHUNK), CountingAnnouncer(), clock=lambda: NOW)


def context(command_id: str | None = None) -> CommandContext:
    return CommandContext(command_id or uuid.uuid4().hex, "ws", "key_1", "corr-1")


def batch(size: int, named=lambda n: n % 2 == 1) -> IngestTraces:
    """Odd places with an id, even ones without (by default)."""
    return IngestTraces.model_validate({"traces": [
        {**({"id": f"tr_named_{n}"} if named(n) else {}), "agentId": "agent_a", "model": {"name": "m"},
         "input": [{"role": "user", "content": f"q{n}"}], "output": "o"} for n in range(size)]})


async def test_a_batch_is_stored_announced_and_unnamed_traces_get_ids_the_same_command_derives_again(deps):
    answer = await handlers.ingest_traces(batch(3), context("cmd-1"), deps)
    assert answer.created[1] == "tr_named_1" and answer.created[0].startswith("tr_") and len(set(answer.created)) == 3
    assert (answer.existing, answer.replayed, deps.announce.calls) == ([], False, 1)
    assert sorted(deps.traces.stored()) == sorted(answer.created)
    stored = await handlers.get_trace(GetTrace(trace_id=answer.created[0]), context(), deps)
    assert stored.timestamp == NOW and stored.ingested_at == NOW

    again = await handlers.ingest_traces(batch(3), context("cmd-1"), deps)
    assert (again.created, again.existing, again.replayed) == (answer.created, [], True)
    assert deps.announce.calls == 1, "nothing new stored, nothing new to announce"


async def test_an_id_another_command_stored_is_reported_existing_and_left_as_it_was(deps):
    first = await handlers.ingest_traces(batch(2, named=lambda n: True), context(), deps)
    later = await handlers.ingest_traces(batch(4, named=lambda n: True), context(), deps)
    assert first.created == ["tr_named_0", "tr_named_1"]
    assert (later.created, later.existing) == (["tr_named_2", "tr_named_3"], ["tr_named_0", "tr_named_1"])
    assert deps.traces.traces[("ws", "tr_named_0")][1]["commandId"] != deps.traces.traces[("ws", "tr_named_2")][1][
        "commandId"]


async def test_the_same_key_with_another_body_is_refused_and_stores_nothing(deps):
    await handlers.ingest_traces(batch(1, named=lambda n: True), context("key-1"), deps)
    with pytest.raises(Conflict, match="already used with a different request body"):
        await handlers.ingest_traces(batch(2, named=lambda n: False), context("key-1"), deps)
    assert deps.traces.stored() == ["tr_named_0"]


async def test_an_id_twice_in_one_batch_is_refused_before_anything_is_claimed_or_stored(deps):
    twice = IngestTraces.model_validate({"traces": [
        {"id": "tr_x", "agentId": "a", "model": {"name": "m"},
         "input": [{"role": "user", "content": "q"}], "output": "o"}] * 2})
    with pytest.raises(InvalidRequest) as refused:
        await handlers.ingest_traces(twice, context("cmd-1"), deps)
    assert [detail.field for detail in refused.value.details] == ["traces.0.id", "traces.1.id"]
    assert (deps.traces.claims, deps.traces.stored(), deps.announce.calls) == ({}, [], 0)


@pytest.mark.parametrize("failure", [Unavailable("The store is unreachable"), DeadlineExceeded("Out of time")])
async def test_a_failure_part_of_the_way_says_what_may_be_stored_and_the_same_command_stores_the_rest_once(
    deps, failure
):
    size = 2 * CHUNK + 5
    deps.traces.fail_at_chunk, deps.traces.failure = 1, failure
    with pytest.raises(type(failure)) as failed:
        await handlers.ingest_traces(batch(size), context("idem-1"), deps)
    message = failed.value.message
    assert message.startswith(failure.message) and "Part of this batch may have been stored" in message
    assert "those sent without one are stored once only if sent with the ids listed in details" in message
    derived = {int(detail.field.split(".")[1]): detail.message for detail in failed.value.details}
    assert sorted(derived) == list(range(0, size, 2))
    assert all(text.startswith("stored as tr_") and text.endswith(", if it was stored") for text in derived.values())
    assert len(deps.traces.stored()) == 2 * CHUNK
    assert deps.announce.calls == 1, "what was stored is announced at once"

    again = await handlers.ingest_traces(batch(size), context("idem-1"), deps)
    assert (len(set(again.created)), again.existing, again.replayed) == (size, [], True)
    assert sorted(deps.traces.stored()) == sorted(again.created)
    assert {f"stored as {trace_id}, if it was stored" for trace_id in again.created[0::2]} == set(derived.values())


async def test_a_failure_of_a_batch_where_every_trace_is_named_needs_no_details(deps):
    deps.traces.fail_at_chunk = 0
    with pytest.raises(Unavailable) as failed:
        await handlers.ingest_traces(batch(3, named=lambda n: True), context(), deps)
    assert failed.value.details is None
    assert failed.value.message.endswith("Without the key, traces sent with an id are stored once.")


async def test_reads_name_what_is_missing_in_the_order_asked_and_page_the_rest(deps):
    await handlers.ingest_traces(batch(5, named=lambda n: True), context(), deps)
    with pytest.raises(NotFound, match="Trace tr_gone not found"):
        await handlers.get_trace(GetTrace(trace_id="tr_gone"), context(), deps)
    asked = FindMissingTraces(trace_ids=["tr_z", "tr_named_1", "tr_a"])
    assert (await handlers.find_missing_traces(asked, context(), deps)).missing == ["tr_z", "tr_a"]
    page = await handlers.list_traces(ListTraces(page=2, limit=2), context(), deps)
    assert (page.total, page.page, page.limit, len(page.items)) == (5, 2, 2, 2)
