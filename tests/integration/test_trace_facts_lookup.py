"""Looking up the facts of an issue's traces, against a real MongoDB wire server. The embedded
server answers `$in` by reading every candidate document, so a lookup of 10,000 traces that does
not name its workspace reads every workspace's facts once per chunk: with 2,000 facts of another
workspace, 9,999 unknown traces took 8.9 s (past the 3 s store timeout; 0.1 s naming the workspace,
see bench/big_issue.py). These tests check the shape of the lookups, not their speed."""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.issues.adapters.trace_facts import MongoTraceFacts
from shared.contracts.traces import TraceFact
from shared.store.mongo import IN_CHUNK


class RecordingCollection:
    """A collection that notes the filter of every `find` it is asked."""

    def __init__(self, collection):
        self._collection = collection
        self.finds: list[dict] = []

    def find(self, criteria, *args, **kwargs):
        self.finds.append(criteria)
        return self._collection.find(criteria, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._collection, name)


@pytest.fixture
async def collection(mongo_client):
    database = mongo_client[f"it_{uuid.uuid4().hex[:10]}"]
    yield database["issues_trace_facts"]
    await mongo_client.drop_database(database.name)


def fact(n: int, at: datetime, customer: str | None) -> TraceFact:
    return TraceFact(id=f"tr_{n}", agent_id="agent_1", agent_name="Refund bot", customer_id=customer, timestamp=at)


async def test_a_lookup_reads_only_its_workspace_in_bounded_chunks_and_tells_the_same(collection):
    facts = MongoTraceFacts(collection)
    await facts.ensure_indexes()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await facts.record("ws_other", [fact(n, at - timedelta(days=9), "c_other") for n in range(300)])
    await facts.record("ws", [fact(n, at + timedelta(minutes=n), f"c{n % 3}") for n in (5, 250, 449)])
    recording = RecordingCollection(collection)
    trace_ids = [f"tr_{n}" for n in range(450)]

    known = await MongoTraceFacts(recording).knowledge("ws", trace_ids, "agent_1")

    assert known.metadata.first_seen_at == at + timedelta(minutes=5)
    assert known.metadata.last_seen_at == at + timedelta(minutes=449)
    assert known.metadata.affected_customers == 2
    assert known.agent_name == "Refund bot"
    lookups = [criteria for criteria in recording.finds if "_id" in criteria]
    assert len(lookups) == math.ceil(len(trace_ids) / IN_CHUNK)
    assert all(criteria["workspace"] == "ws" for criteria in recording.finds)
    assert all(len(criteria["_id"]["$in"]) <= IN_CHUNK for criteria in lookups)
    assert sorted(key for criteria in lookups for key in criteria["_id"]["$in"]) == sorted(
        f"ws/{trace_id}" for trace_id in trace_ids)


async def test_the_facts_are_indexed_by_workspace_alone(collection):
    """The embedded server narrows its candidates with a single-field index only."""
    await MongoTraceFacts(collection).ensure_indexes()
    keys = [list(index["key"].items()) async for index in await collection.list_indexes()]
    assert [("workspace", 1)] in keys


async def test_the_traces_seen_after_a_moment_are_found_in_chunks_of_one_workspace(collection):
    facts = MongoTraceFacts(collection)
    await facts.ensure_indexes()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await facts.record("ws_other", [fact(n, at + timedelta(days=1), None) for n in range(450)])
    await facts.record("ws", [fact(n, at + timedelta(minutes=n - 2), None) for n in (0, 2, 3, 449)])
    recording = RecordingCollection(collection)
    trace_ids = [f"tr_{n}" for n in range(450)]

    seen = await MongoTraceFacts(recording).seen_after("ws", trace_ids, at)

    assert sorted(seen) == ["tr_3", "tr_449"], "tr_2 was seen at that very moment, not after"
    assert len(recording.finds) == math.ceil(len(trace_ids) / IN_CHUNK)
    assert all(criteria["workspace"] == "ws" for criteria in recording.finds)


async def test_a_fact_heard_again_is_stored_once_as_first_heard(collection):
    facts = MongoTraceFacts(collection)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    await facts.record("ws", [fact(1, at, "c1"), fact(2, at, "c2")])
    await facts.record("ws", [fact(2, at + timedelta(days=1), "c_late"), fact(3, at, "c3")])
    await facts.record("ws_other", [fact(1, at, "c9")])

    assert await collection.count_documents({}) == 4
    known = await facts.knowledge("ws", ["tr_1", "tr_2", "tr_3"], None)
    assert known.metadata.last_seen_at == at
    assert known.metadata.affected_customers == 3
