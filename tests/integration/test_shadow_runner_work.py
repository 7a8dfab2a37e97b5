"""The runner's per-trace work against a real store: nothing left undone by a crash between
keeping a result and completing the test, and failures that retrying cannot mend recorded."""

import uuid
from datetime import UTC, datetime

import pytest

from services.shadow_runner import handlers
from services.shadow_runner.adapters.mongo_repository import MongoShadowTests
from services.shadow_runner.domain.model import ShadowTest
from services.shadow_runner.evaluation import Evaluator
from shared.contracts.envelope import Envelope
from shared.contracts.errors import ErrorBody, ErrorCode, RemoteError, Unavailable
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import ReplayRequested, ShadowTestConfig
from shared.contracts.traces import Trace
from shared.messaging.mongo import Creation

NOW = datetime(2025, 8, 15, tzinfo=UTC)
FIX = FixView(id="fix_1", issue_id=None, type="config_change", status="testing", description="d",
              changes={"temperature": 0}, author="a", created_at=NOW, updated_at=NOW)


class Remote:
    def __init__(self, failure: Exception | None = None):
        self.failure = failure

    async def trace(self, ctx, trace_id):
        if self.failure:
            raise self.failure
        return Trace.model_validate({"id": trace_id, "agentId": "a", "model": {"name": "m"},
                                     "input": [{"role": "user", "content": "q"}], "output": "o",
                                     "ingestedAt": NOW}, by_name=False)


@pytest.fixture
async def tests_store(mongo_client):
    database = mongo_client[f"it_{uuid.uuid4().hex[:10]}"]
    store = MongoShadowTests(database["shadow_tests"], database["shadow_test_results"])
    await store.ensure_indexes()
    yield store
    await mongo_client.drop_database(database.name)


async def a_test(store, trace_ids) -> ShadowTest:
    test = ShadowTest.create("st_" + uuid.uuid4().hex[:8], "ws", FIX, None, trace_ids, ShadowTestConfig(), NOW)
    await store.add(test, Creation(uuid.uuid4().hex, "fp", {}), [])
    return test


def job(test: ShadowTest, trace_id: str) -> tuple[ReplayRequested, Envelope]:
    work = ReplayRequested(shadow_test_id=test.id, trace_id=trace_id)
    return work, Envelope(type=work.routing_key, workspace="ws", correlation_id="c", payload=work.to_wire())


def deps_for(store, remote) -> handlers.Dependencies:
    evaluator = Evaluator(replay_model=None, judge=None, judge_model_name="j", model_override=None, margin=0.05)
    return handlers.Dependencies(store, remote, evaluator, notify=lambda _id: None, clock=lambda: NOW)


async def test_a_crash_between_keeping_the_result_and_completing_is_mended_by_redelivery(tests_store):
    test = await a_test(tests_store, ["tr_1"])
    deps = deps_for(tests_store, Remote())
    real_save = tests_store.save_status
    calls = {"n": 0}

    async def save_failing_on_completion(test, outbox):
        calls["n"] += 1
        if test.status == "completed" and calls["n"] < 3:
            raise Unavailable("store blip")
        await real_save(test, outbox)

    tests_store.save_status = save_failing_on_completion
    with pytest.raises(Unavailable):
        await handlers.on_replay_requested(*job(test, "tr_1"), deps)
    assert (await tests_store.get("ws", test.id)).status == "running"
    await handlers.on_replay_requested(*job(test, "tr_1"), deps)
    done = await tests_store.get("ws", test.id)
    assert done.status == "completed" and done.tally.total == 1


async def test_a_failure_retrying_cannot_mend_becomes_an_errored_result(tests_store):
    test = await a_test(tests_store, ["tr_1"])
    failure = RemoteError(ErrorBody(code=ErrorCode.INTERNAL_ERROR, message="traces service bug"))
    await handlers.on_replay_requested(*job(test, "tr_1"), deps_for(tests_store, Remote(failure)))
    done = await tests_store.get("ws", test.id)
    assert done.status == "completed"
    [result] = await tests_store.results(done)
    assert result.verdict == "errored" and "traces service bug" in result.explanation


async def test_a_store_outage_is_not_recorded_as_a_result(tests_store):
    test = await a_test(tests_store, ["tr_1"])
    with pytest.raises(Unavailable):
        await handlers.on_replay_requested(*job(test, "tr_1"), deps_for(tests_store, Remote(Unavailable("down"))))
    assert await tests_store.results(await tests_store.get("ws", test.id)) == []
