"""The runner's per-trace work against a real store: nothing left undone by a crash between
keeping a result and completing the test, and failures that retrying cannot mend recorded."""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.shadow_runner import bootstrap, handlers
from services.shadow_runner.adapters.mongo_repository import MongoShadowTests
from services.shadow_runner.domain.commands import ReplayRequested
from services.shadow_runner.domain.model import VERDICTS, ShadowTest
from shared.contracts.common import utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import ErrorBody, ErrorCode, RemoteError, Unavailable
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import (
    GetShadowTest,
    ShadowTestConfig,
    TraceResult,
    UpdateShadowTest,
)
from shared.contracts.traces import Trace
from shared.messaging.commands import CommandContext
from shared.store.creation import Creation

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
async def tests_store(scratch_database):
    store = MongoShadowTests(scratch_database["shadow_tests"], scratch_database["shadow_test_results"])
    await store.ensure_indexes()
    return store


async def a_test(store, trace_ids) -> ShadowTest:
    test = ShadowTest.create("st_" + uuid.uuid4().hex[:8], "ws", FIX, None, trace_ids, ShadowTestConfig(), NOW)
    await store.add(test, Creation(uuid.uuid4().hex, "fp", {}), [])
    return test


def job(test: ShadowTest, trace_id: str) -> tuple[ReplayRequested, Envelope]:
    work = ReplayRequested(shadow_test_id=test.id, trace_id=trace_id)
    return work, Envelope(type=work.routing_key, workspace="ws", correlation_id="c", payload=work.to_wire())


def deps_for(store, remote, clock=lambda: NOW) -> handlers.Dependencies:
    models = handlers.Models(replay=None, judge=None, judge_model_name="j", model_override=None, margin=0.05)
    return bootstrap.build(store, remote, models, notify=lambda _id: None, clock=clock)


async def test_a_crash_between_keeping_the_result_and_completing_is_mended_by_redelivery(tests_store):
    test = await a_test(tests_store, ["tr_1"])
    deps = deps_for(tests_store, Remote())
    real_save = tests_store.save
    calls = {"n": 0}

    async def save_failing_on_completion(test, outbox):
        calls["n"] += 1
        if test.status == "completed" and calls["n"] < 3:
            raise Unavailable("store blip")
        await real_save(test, outbox)

    tests_store.save = save_failing_on_completion
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


def a_result(trace_id: str, verdict: str) -> TraceResult:
    return TraceResult(trace_id=trace_id, verdict=verdict, original_score=0.2, fixed_score=0.9, explanation="e",
                       scoring="automated", original_output="o", fixed_output="f", latency_ms=1)


async def test_a_result_recorded_while_a_test_is_failed_is_neither_counted_nor_listed(tests_store):
    """A runner records a result after the stop read the results and before it saved, and the
    runner's clock is a second behind the one that stamps `completedAt`."""
    test = await a_test(tests_store, ["tr_1", "tr_2", "tr_3"])
    deps = deps_for(tests_store, Remote(), clock=lambda: utc_now() + timedelta(seconds=1))
    await handlers.on_replay_requested(*job(test, "tr_1"), deps)
    real_save = tests_store.save

    async def save_after_a_runner_recorded(test, outbox):
        await tests_store.record_result(test.id, a_result("tr_2", "improved"))
        await real_save(test, outbox)

    tests_store.save = save_after_a_runner_recorded
    ctx = CommandContext("cmd", "ws", None, "c")
    stop = UpdateShadowTest(shadow_test_id=test.id, patch={"status": "failed", "results": {"error": "stopped"}})
    stopped = await handlers.update_shadow_test(stop, ctx, deps)
    shown = await handlers.get_shadow_test(GetShadowTest(shadow_test_id=test.id), ctx, deps)

    counts = {verdict: shown.results.model_dump()[verdict] for verdict in VERDICTS}
    listed = Counter(result.verdict for result in shown.trace_results)
    assert counts == {verdict: listed[verdict] for verdict in VERDICTS}, (counts, shown.trace_results)
    assert [result.trace_id for result in shown.trace_results] == ["tr_1"]
    assert stopped.results == shown.results


async def test_the_store_tallies_the_issue_traces_apart_from_controls_and_keeps_the_statistics(tests_store):
    config = ShadowTestConfig(control_trace_ids=["ctl_1", "ctl_2"])
    test = ShadowTest.create("st_" + uuid.uuid4().hex[:8], "ws", FIX, None, ["tr_1"], config, NOW)
    await tests_store.add(test, Creation(uuid.uuid4().hex, "fp", {}), [])
    await tests_store.record_result(test.id, a_result("tr_1", "improved"))
    for control in ("ctl_1", "ctl_2"):
        await tests_store.record_result(test.id, a_result(control, "regressed"), control=True)
    assert (await tests_store.tally(test.id)).counts == (1, 0, 0, 0, 0)
    assert await tests_store.result_count(test.id) == 3

    stored = await tests_store.get("ws", test.id)
    stored.start(NOW)
    stored.complete(await tests_store.tally(test.id), stored.statistics_of(await tests_store.results(stored)), NOW)
    await tests_store.save(stored, [])
    shown = (await tests_store.get("ws", test.id)).detail(await tests_store.results(stored))
    assert (shown.results.improved, shown.results.control.regressed) == (1, 2)
    assert shown.results.recommendation == "inconclusive" and shown.results.significance.p_value == 1.0
    assert [r.trace_id for r in shown.control_trace_results] == ["ctl_1", "ctl_2"]
