"""The runner pool: traces of one test shared by several runner processes, and a runner killed
mid-test losing and doubling nothing."""

import pytest

from deploy.local.demo_model import Fault
from tests.e2e.test_shadow_tests import a_trace, finished, marker, setup, start_test
from tests.support.output import TRACE_REPLAYED, records
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


def replayed_by(stack, key: str, test_id: str) -> list[str]:
    return [line["trace_id"] for line in records(stack.log_lines(key), event=TRACE_REPLAYED, shadow_test_id=test_id)]


@pytest.fixture
def second_runner(stack):
    key = stack.start("shadow_runner", instance=2)
    yield key
    stack.stop(key)


async def test_two_runners_share_one_tests_traces(api, stack, fake_model, second_runner):
    m = marker()
    traces = [a_trace(m, n) for n in range(12)]
    _, fix = await setup(api, traces)
    fake_model.fail(f"[{m}]", *[Fault(delay=0.3)] * 12)
    test = await finished(api, (await start_test(api, fix, traces))["id"])

    assert test["status"] == "completed" and test["results"]["improved"] == 12
    first, second = replayed_by(stack, "shadow_runner", test["id"]), replayed_by(stack, second_runner, test["id"])
    assert first and second, (first, second)
    assert sorted(first + second) == sorted(t["id"] for t in traces)


async def test_a_runner_killed_mid_test_loses_and_doubles_nothing(api, stack, fake_model, second_runner):
    m = marker()
    traces = [a_trace(m, n) for n in range(8)]
    _, fix = await setup(api, traces)
    fake_model.fail(f"[{m}]", *[Fault(delay=2.0)] * 8)
    created = await start_test(api, fix, traces)
    await eventually(lambda: len(fake_model.calls_about(f"[{m}]")) >= 8, 20, "every trace to be in a model call")

    stack.kill(second_runner)
    test = await finished(api, created["id"], timeout=90)

    assert test["status"] == "completed"
    assert sorted(r["traceId"] for r in test["traceResults"]) == sorted(t["id"] for t in traces)
    counts = {k: test["results"][k] for k in ("improved", "unchanged", "regressed", "errored", "improvementRate")}
    assert counts == {"improved": 8, "unchanged": 0, "regressed": 0, "errored": 0, "improvementRate": 1.0}
    replays = [call for call in fake_model.calls_about(f"[{m}]") if call["model"] != "judge-model"]
    assert len(replays) > 8, "the killed runner's traces were replayed again by the survivor"
    assert replayed_by(stack, second_runner, created["id"]) == []
