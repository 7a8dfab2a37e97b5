"""The load generator, in its own process:

    python -m bench.load --base http://127.0.0.1:8080 --scenario create --concurrency 8 --duration 4

Keeps `concurrency` requests in flight for `duration` seconds (after a one-second warm-up that
is not counted) and prints one JSON line: successful requests, errors, successful requests a
second, and p50 and p99 of the successful requests in ms.
"""

import argparse
import asyncio
import json
import random
import time

import aiohttp

BODY = {"title": "Benchmark issue", "description": "Created by bench.load", "agentId": "agent_bench",
        "severity": "high", "traceIds": ["tr_1", "tr_2"], "tags": ["bench"]}


def request_for(scenario: str, base: str, ids: list[str]) -> tuple[str, str, dict | None]:
    if scenario == "create":
        return "POST", f"{base}/api/v2/issues", BODY
    if scenario == "get":
        return "GET", f"{base}/api/v2/issues/{random.choice(ids)}", None
    if scenario == "list":
        return "GET", f"{base}/api/v2/issues?limit=20", None
    return "POST", f"{base}/echo", {"text": "ping"}


async def run(base: str, key: str | None, scenario: str, concurrency: int, duration: float, ids: list[str]) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies: list[float] = []
    errors = 0
    warm_until = time.monotonic() + 1.0
    stop_at = warm_until + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.monotonic() < stop_at:
            method, url, body = request_for(scenario, base, ids)
            started = time.monotonic()
            async with session.request(method, url, json=body, headers=headers) as response:
                await response.read()
                ok = response.status < 400
            if started >= warm_until:
                if ok:
                    latencies.append((time.monotonic() - started) * 1000)
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else 0.0

    return {"requests": len(latencies), "errors": errors, "rps": round(len(latencies) / duration, 1),
            "p50": pct(0.5), "p99": pct(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--key")
    parser.add_argument("--scenario", choices=["create", "get", "list", "echo"], required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--ids", default="", help="comma-separated issue ids for the get scenario")
    args = parser.parse_args()
    ids = [i for i in args.ids.split(",") if i]
    print(json.dumps(asyncio.run(run(args.base, args.key, args.scenario, args.concurrency, args.duration, ids))))


if __name__ == "__main__":
    main()
