"""OTLP ingestion against `POST /api/v2/traces`, with the same runs, side by side in one run.

Each run is the weather agent's (tests/support/agent_runs.py: an agent span, three model calls,
two tool calls; 6 spans) recorded by the real SDK with its own trace id. Over OTLP each run is
one protobuf export (`POST /v1/traces`, as the SDK's exporter posts it); over JSON the same run,
mapped as the traces service maps it, is one `POST /api/v2/traces` of one trace. Both answer
once the trace is stored. Bodies are made before the clock starts.

`python -m bench.otlp` starts a stack of its own and prints the result; `make bench` measures it
with everything else (bench/run.py).
"""

import asyncio
import json
import os
import time
from statistics import median

import aiohttp
from pymongo import AsyncMongoClient

from services.traces.domain.otlp import decode_export
from services.traces.domain.otlp_mapping import map_run
from services.traces.domain.otlp_runs import assemble, by_trace
from shared.contracts.common import utc_now
from shared.settings import DEFAULT_AMQP_URL
from tests.support.agent_runs import gen_ai_run
from tests.support.otel import Recorder, protobuf

RUNS = int(os.environ.get("BENCH_OTLP_RUNS", "300"))
CONCURRENCY = 8


def recorded_runs(count: int) -> list[tuple[bytes, bytes, int, list[bytes]]]:
    """Per run: the OTLP protobuf body, the JSON body of the same trace, its span count, and
    the run in two exports (the model and tool spans, then the agent span)."""
    runs = []
    for _ in range(count):
        recorder = Recorder()
        gen_ai_run(recorder)
        finished = recorder.finished()
        body = protobuf(finished)
        halves = [protobuf([span for span in finished if span.parent is not None]),
                  protobuf([span for span in finished if span.parent is None])]
        spans = decode_export(body, "application/x-protobuf").spans
        [run] = assemble(by_trace(spans).popitem()[1], utc_now(), utc_now()).runs
        trace = map_run(run).trace.to_wire()
        trace["id"] = trace["id"].replace("otel-", "json-")
        runs.append((body, json.dumps({"traces": [trace]}).encode(), len(spans), halves))
    return runs


async def _send_all(http: aiohttp.ClientSession, url: str, key: str, bodies: list[list[bytes]],
                    content_type: str) -> tuple[float, list[float], int]:
    """Each item is one run's requests, sent one after the other; its latency is theirs together."""
    pending = list(reversed(bodies))
    latencies, errors = [], 0

    async def worker() -> None:
        nonlocal errors
        while pending:
            requests = pending.pop()
            started = time.monotonic()
            for body in requests:
                async with http.post(url, data=body, headers={"Authorization": f"Bearer {key}",
                                                              "Content-Type": content_type}) as response:
                    await response.read()
                    if response.status >= 300:
                        errors += 1
            latencies.append((time.monotonic() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.monotonic() - started, latencies, errors


def _figures(seconds: float, latencies: list[float], errors: int, runs: int, spans: int) -> dict:
    ordered = sorted(latencies)
    return {"runs": runs, "seconds": round(seconds, 2), "runs_per_s": round(runs / seconds, 1),
            "spans_per_s": round(spans / seconds, 1), "p50": round(median(ordered), 1),
            "p99": round(ordered[int(len(ordered) * 0.99) - 1], 1), "errors": errors}


async def otlp_against_json(base: str, key: str, count: int = RUNS) -> dict:
    """Sends `count` runs over each route at `CONCURRENCY`, JSON first then OTLP, after a warm-up
    of each, and checks that every run was stored."""
    runs, others = recorded_runs(count + 20), recorded_runs(count + 20)
    spans = sum(run[2] for run in runs[20:])
    result = {"concurrency": CONCURRENCY, "spans_per_run": runs[0][2]}
    ways = (("json", "/api/v2/traces", "application/json", lambda run: [run[1]], runs),
            ("otlp", "/v1/traces", "application/x-protobuf", lambda run: [run[0]], runs),
            ("otlp_split", "/v1/traces", "application/x-protobuf", lambda run: run[3], others))
    async with aiohttp.ClientSession() as http:
        for name, path, content_type, requests, sent in ways:
            warm, measured = sent[:20], sent[20:]
            await _send_all(http, base + path, key, [requests(run) for run in warm], content_type)
            seconds, latencies, errors = await _send_all(http, base + path, key, [requests(run) for run in measured],
                                                         content_type)
            result[name] = _figures(seconds, latencies, errors, count, spans)
            result[name]["body_bytes"] = round(sum(len(b) for run in measured for b in requests(run)) / count)
    for name in ("otlp", "otlp_split"):
        result[f"{name}_over_json"] = round(result[name]["spans_per_s"] / result["json"]["spans_per_s"], 2)
    return result


def render(result: dict) -> list[str]:
    otlp, split, plain = result["otlp"], result["otlp_split"], result["json"]
    return [
        "", "## 5. OTLP ingestion against the JSON route", "",
        f"The same {otlp['runs']} agent runs ({result['spans_per_run']} spans each: an agent, three model calls, two "
        f"tool calls) sent at concurrency {result['concurrency']}, one run a request: as the OpenTelemetry SDK's "
        "protobuf export to `POST /v1/traces` (decoded, found whole, mapped and stored before the answer, its "
        "spans never kept) and as the trace it maps to, to `POST /api/v2/traces` (bench/otlp.py). "
        "*Split*: other runs like them, each in two exports, its model and tool spans then its agent span, so "
        "its spans wait in `otlp_spans` until the second; latency is the two requests'.", "",
        "| route | runs/s | spans/s | p50 / p99 ms | body bytes | errors |", "| --- | --- | --- | --- | --- | --- |",
        f"| OTLP `/v1/traces` | {otlp['runs_per_s']} | {otlp['spans_per_s']} | {otlp['p50']} / {otlp['p99']} | "
        f"{otlp['body_bytes']} | {otlp['errors']} |",
        f"| OTLP, split in two exports | {split['runs_per_s']} | {split['spans_per_s']} | {split['p50']} / "
        f"{split['p99']} | {split['body_bytes']} | {split['errors']} |",
        f"| JSON `/api/v2/traces` | {plain['runs_per_s']} | {plain['spans_per_s']} | {plain['p50']} / {plain['p99']} | "
        f"{plain['body_bytes']} | {plain['errors']} |",
        "", f"**OTLP / JSON throughput: {result['otlp_over_json']}**, split in two exports "
        f"{result['otlp_split_over_json']} (spans per second, same runs, same run).",
    ]


async def _standalone() -> dict:
    from deploy.local.processes import ROOT, embedded_mongo, free_port
    from deploy.local.stack import new_stack
    from services.gateway.adapters.api_key_store import MongoApiKeyStore
    from services.gateway.handlers import create_api_key

    port = free_port()
    mongo = embedded_mongo(port, None, output=None).start_listening(port)
    url = f"mongodb://127.0.0.1:{port}/"
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = new_stack(os.environ.get("AMQP_URL", DEFAULT_AMQP_URL), url, log_dir,
                      rate_limit_burst="100000000", rate_limit_per_second="100000000")
    try:
        stack.start_all()
        client = AsyncMongoClient(url)
        key = (await create_api_key(MongoApiKeyStore(client[stack.database]["api_keys"]), "bench")).secret
        result = await otlp_against_json(stack.base_url, key)
        stored = await client[stack.database]["traces"].count_documents({})
        await client.close()
        result["stored"] = stored
        return result
    finally:
        stack.stop_all()
        mongo.stop()


if __name__ == "__main__":
    outcome = asyncio.run(_standalone())
    print(json.dumps(outcome))
    print("\n".join(render(outcome)))
