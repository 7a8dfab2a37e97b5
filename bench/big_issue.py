"""Times the store operations behind creating an issue with 9,999 traces, against a real embedded
MongoDB wire server holding a realistic number of trace facts. A measuring aid, not a test.

    .venv/bin/python -m bench.big_issue [--facts 20000]
"""

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient, InsertOne

from services.issues.adapters.trace_facts import MongoTraceFacts


async def start_server() -> tuple[asyncio.subprocess.Process, str]:
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.local.embedded_mongo", "--port", "0", stdout=asyncio.subprocess.PIPE)
    line = (await server.stdout.readline()).decode().strip()
    assert line.startswith("ready "), line
    return server, line.removeprefix("ready ")


async def timed(label: str, operation) -> object:
    started = time.perf_counter()
    result = await operation
    print(f"{label:<60} {time.perf_counter() - started:7.3f} s", flush=True)
    return result


async def main(facts: int) -> None:
    server, address = await start_server()
    client = AsyncMongoClient(f"mongodb://{address}", tz_aware=True)
    try:
        database = client["measure"]
        collection = database["issues_trace_facts"]
        store = MongoTraceFacts(collection)
        await store.ensure_indexes()
        now = datetime.now(UTC)
        started = time.perf_counter()
        for start in range(0, facts, 500):
            await collection.bulk_write([
                InsertOne({"_id": f"ws_other/tr_{n}", "workspace": "ws_other", "id": f"tr_{n}", "agentId": "agent_1",
                           "timestamp": now - timedelta(seconds=n), "customerId": f"c{n % 50}"})
                for n in range(start, min(start + 500, facts))])
        took = time.perf_counter() - started
        print(f"{'inserted ' + str(facts) + ' facts (ws_other) in batches of 500':<60} {took:7.3f} s", flush=True)
        absent = [f"tr_{n}" for n in range(9_999)]
        await timed("knowledge(9,999 ids, none known)", store.knowledge("ws", absent, "agent_1"))
        await timed("knowledge(9,999 ids, all known)", store.knowledge("ws_other", absent, "agent_1"))
        one = [f"ws/tr_{n}" for n in range(200)]
        await timed("one find {_id: {$in: 200 ids}}", collection.find({"_id": {"$in": one}}).to_list())
        await timed("one find {_id: 'x'}", collection.find({"_id": "ws/tr_1"}).to_list())
        issue = {"_id": "iss_1", "workspace": "ws", "traceIds": absent, "version": 1,
                 "outbox": [{"id": "evt_1", "type": "issue.created", "payload": {"traceIds": absent}}]}
        await timed("insert issue doc with 9,999 ids + outbox event", database["issues"].insert_one(issue))
        await timed("find issue by _id", database["issues"].find_one({"_id": "iss_1"}))
    finally:
        await client.close()
        server.terminate()
        await server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--facts", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().facts))
