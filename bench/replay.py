"""Multi-step replay: shadow tests of 3-step traces (two tool calls answered from the recorded
run, then the answer) against 1-step traces (one model call), with the same model latency, in
one run; and the replay loop's own cost per step, in process.

Per trace, a k-step replay waits k model latencies, so with C replays at once a runner does at
best C / (k × latency) traces/s. Each trace's result says how long its replay and scoring took
(`latencyMs`); the median 3-step one less the median 1-step one is two extra steps, so each
extra step costs half of that less the model's latency: the loop's overhead per step, end to
end (the HTTP hop, the longer conversation encoded and decoded, the matching).

`python -m bench.replay` starts a stack of its own and prints the result; `make bench` measures
it with everything else (bench/run.py).
"""

import asyncio
import json
import os
import statistics
import time
import timeit
import uuid

from services.shadow_runner.domain.replay import AskedCall, ChatRequest
from services.shadow_runner.domain.tool_replay import RecordedSteps, ToolReplay
from shared.contracts.agent_steps import ToolStep
from tests.support.api import Api
from tests.support.waiting import eventually

TRACES = int(os.environ.get("BENCH_REPLAY_TRACES", "48"))
TOOLS = [{"type": "function", "function": {"name": name, "description": f"The {name}.",
                                            "parameters": {"type": "object", "properties": {"topic": {}}}}}
         for name in ("refund_policy", "faq")]
ANSWER = "Returns are accepted within 30 days of purchase."


def a_trace(tag: str, n: int, steps: int) -> dict:
    trace = {"id": f"tr_{tag}_{steps}_{n}", "agentId": "agent_bench", "model": {"name": "demo"},
             "systemPrompt": "Answer refund questions using the knowledge base.",
             "input": [{"role": "user", "content": f"Can I return this after 45 days? #{tag} {n}"}],
             "output": "Yes, within 60 days.", "expectedOutput": "No. Returns within 30 days of purchase."}
    if steps > 1:
        trace["tools"] = TOOLS
        trace["steps"] = [{"name": tool["function"]["name"], "arguments": {"topic": "returns"}, "result": ANSWER}
                          for tool in TOOLS[:steps - 1]]
    return trace


async def timed_test(api: Api, steps: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    traces = [a_trace(tag, n, steps) for n in range(TRACES)]
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201
    issue = await api.create_issue(title="replay bench", description="d", agentId="agent_bench", severity="low")
    fix = await api.create_fix(issue["id"], description="d", changes={"promptDiff": "+ Be brief."})
    started = time.monotonic()
    test = (await api.post("/api/shadow-tests", json={"fixId": fix["id"], "traceIds": [t["id"] for t in traces],
                                                     "config": {"comparisonMode": "automated"}})).data

    async def finished() -> dict | None:
        status = (await api.get(f"/api/shadow-tests/{test['id']}")).data
        return status if status["status"] in ("completed", "failed") else None

    status = await eventually(finished, 600, f"shadow test {test['id']} to finish", interval=0.05)
    seconds = time.monotonic() - started
    assert status["status"] == "completed" and status["results"]["errored"] == 0, status["results"]
    detail = (await api.get(f"/api/shadow-tests/{test['id']}")).data
    latency = statistics.median(result["latencyMs"] for result in detail["traceResults"])
    return {"steps": steps, "traces": TRACES, "seconds": round(seconds, 2), "traces_per_s": round(TRACES / seconds, 2),
            "median_trace_ms": latency}


def loop_cost_us(steps: int = 3, rounds: int = 2000) -> float:
    """Microseconds the loop itself takes per step (request built, reply taken, call matched and
    answered), with a model that answers at once."""
    recorded = [ToolStep(name=tool["function"]["name"], arguments={"topic": "returns"}, result=ANSWER)
                for tool in TOOLS]
    request = ChatRequest(model="m", messages=[{"role": "system", "content": "p"}, {"role": "user", "content": "q"}],
                          tools=TOOLS)

    def one() -> None:
        run = ToolReplay(request, RecordedSteps(recorded), 10)
        for n in range(steps):
            run.next_request()
            calls = [AskedCall(f"c{n}", TOOLS[n]["function"]["name"], '{"topic": "returns"}')] if n < 2 else []
            run.took(ANSWER if not calls else "", calls)

    seconds = min(timeit.repeat(one, number=rounds, repeat=3))
    return round(seconds / rounds / steps * 1e6, 1)


async def multi_step(api: Api, concurrency: int, latency: float) -> dict:
    """One shadow test of `TRACES` 1-step traces, then one of 3-step traces, on one runner."""
    await timed_test(api, 1)
    one, three = await timed_test(api, 1), await timed_test(api, 3)
    extra_step_ms = (three["median_trace_ms"] - one["median_trace_ms"]) / 2 - latency * 1000
    return {"concurrency": concurrency, "latency_ms": round(latency * 1000), "one": one, "three": three,
            "ratio": round(one["traces_per_s"] / three["traces_per_s"], 2),
            "overhead_per_step_ms": round(extra_step_ms, 1), "loop_us_per_step": loop_cost_us()}


def render(result: dict) -> list[str]:
    one, three = result["one"], result["three"]
    ceiling = result["concurrency"] / (result["latency_ms"] / 1000)
    return [
        "", "## 8. Multi-step replay: 3-step traces against 1-step ones", "",
        f"Shadow tests of {one['traces']} traces each on one runner replaying {result['concurrency']} at once, "
        f"against the demo model with a fixed {result['latency_ms']} ms per answer (bench/replay.py): 1-step "
        "traces (one model call) and 3-step traces (two tool calls, each answered from the recorded run, then the "
        f"answer: three model calls), after a warm-up test. The ceilings are {ceiling:g} and {ceiling / 3:.2f} "
        "traces/s.", "",
        "| trace | seconds | traces/s | model calls/s | median replay + scoring ms |",
        "| --- | --- | --- | --- | --- |",
        f"| 1 step | {one['seconds']} | {one['traces_per_s']} | {one['traces_per_s']} | {one['median_trace_ms']} |",
        f"| 3 steps | {three['seconds']} | {three['traces_per_s']} | {round(three['traces_per_s'] * 3, 2)} | "
        f"{three['median_trace_ms']} |",
        "", f"**1-step / 3-step throughput: {result['ratio']}** (3 if the model's latency were all there is; "
        "less, as each trace also costs fixed work: its trace read, its scoring, its result stored). Each "
        f"extra step costs **{result['overhead_per_step_ms']} ms** beyond the model's latency, end to end (half "
        "the difference of the median replay times, less the latency: the HTTP hop, the longer conversation "
        "encoded and decoded); the loop itself (request built, reply taken, call matched and answered) takes "
        f"**{result['loop_us_per_step']} µs** a step in process.",
    ]


async def _standalone() -> dict:
    from bench.own_stack import own_stack
    from deploy.local.demo_model import DemoModel

    latency, concurrency = 0.2, 4
    with DemoModel(delay=latency) as model:
        async with own_stack(replay_model_base_url=model.url, replay_concurrency=str(concurrency)) as (_, api_for):
            return await multi_step(await api_for("bench"), concurrency, latency)


if __name__ == "__main__":
    outcome = asyncio.run(_standalone())
    print(json.dumps(outcome))
    print("\n".join(render(outcome)))
