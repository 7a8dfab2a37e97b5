"""A hostile guardrail pattern in one workspace, matched against an answer that workspace
controls, while another workspace executes its own fixes on the same runner."""

import asyncio
import time

import pytest

from tests.conftest import model_settings, running_stack, workspace_api
from tests.e2e.test_shadow_tests import a_trace, marker, setup
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

CATASTROPHIC = "^(a+)+$"
HOSTILE_OUTPUT = "a" * 30 + "!"
"""Python's `re` backtracks through 2^30 ways to split the a's before failing: about a
minute here, doubling with each further `a`."""


@pytest.fixture
async def own_stack(amqp, mongo, log_dir, mongo_client, namespaces, fake_model):
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, **model_settings(fake_model)) as running:
        yield running


async def timed_execution(api, fix: dict, trace_id: str) -> tuple[float, object]:
    started = time.monotonic()
    response = await api.post("/api/shadow-execution", json={
        "fixId": fix["id"], "traceId": trace_id, "config": {"comparisonMode": "automated"}})
    return time.monotonic() - started, response


async def test_a_catastrophic_pattern_in_one_workspace_does_not_stall_anothers_execution(
        own_stack, mongo_client, http, fake_model):
    """Breaks: workspace A's guardrail `^(a+)+$` on a trace whose recorded answer is thirty
    a's and a `!`. Proves: A's execution is answered, and B's execution on the same runner,
    sent once A's replay reached the model (so while A's is scored, unless that already ended:
    a quick honest answer is what we want), takes about as long as before the attack."""
    attacker, victim = [await workspace_api(own_stack, mongo_client, http) for _ in range(2)]
    guardrail = {"rule": "block_pattern", "fallback": "Let me check."}
    b = marker()
    b_trace = a_trace(b, 0)
    _, b_fix = await setup(victim, [b_trace], changes={**guardrail, "pattern": "60 days"}, fix_type="guardrail")
    baseline = 0.0
    for _ in range(3):
        latency, response = await timed_execution(victim, b_fix, b_trace["id"])
        assert response.status == 200, response.body
        baseline = max(baseline, latency)

    a = marker()
    a_trace_ = {**a_trace(a, 0), "output": HOSTILE_OUTPUT}
    _, a_fix = await setup(attacker, [a_trace_], changes={**guardrail, "pattern": CATASTROPHIC}, fix_type="guardrail")
    attack = asyncio.create_task(timed_execution(attacker, a_fix, a_trace_["id"]))

    await eventually(lambda: fake_model.calls_about(f"[{a}]"), 30, "the attacker's replay to reach the model",
                     interval=0.005)

    latency, response = await timed_execution(victim, b_fix, b_trace["id"])
    assert response.status == 200, response.body
    assert latency < 10 * baseline + 1, f"{latency:.2f}s under attack against {baseline:.2f}s before"

    attack_latency, attacked = await attack
    assert attacked.status == 200, attacked.body
    assert attacked.data["originalOutput"] == HOSTILE_OUTPUT
    assert "guardrail block_pattern: original keeps it" in attacked.data["explanation"]
