"""The labelled sets through a running stack, as a user sends them: each set's traces posted to
`POST /api/v2/traces` in arrival order, in batches, into a workspace of its own; then the issues
the clustering service made (`GET /api/v2/issues?source=clustering`) are scored against the labels.

    python -m eval.clustering --stack
"""

import asyncio
import subprocess
import time
import uuid
from contextlib import asynccontextmanager

import aiohttp
from pymongo import AsyncMongoClient

from deploy.local.clean_bus import bus_names
from deploy.local.processes import ROOT, embedded_mongo, free_port
from deploy.local.stack import new_stack
from eval.clustering.dataset import records
from eval.clustering.metrics import Report, score
from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.handlers import create_api_key
from shared.messaging.cleanup import remove_namespace
from shared.settings import DEFAULT_AMQP_URL
from tests.support.api import Api

SETTLED_AFTER = 3.0
GIVE_UP_AFTER = 120.0


@asynccontextmanager
async def running_stack(folder: str = "eval"):
    """A whole stack on an embedded store of its own (logs in `var/<folder>`), its bus namespace
    deleted when it ends; yields it and a function making an API for a new workspace."""
    mongo_port = free_port()
    mongo = embedded_mongo(mongo_port, None, output=subprocess.DEVNULL).start_listening(mongo_port)
    mongo_url = f"mongodb://127.0.0.1:{mongo_port}/"
    log_dir = ROOT / "var" / folder
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = new_stack(DEFAULT_AMQP_URL, mongo_url, log_dir, rate_limit_burst="100000000",
                      rate_limit_per_second="100000000")
    client = AsyncMongoClient(mongo_url)
    try:
        stack.start_all()
        async with aiohttp.ClientSession() as http:
            async def api_for(name: str) -> Api:
                store = MongoApiKeyStore(client[stack.database]["api_keys"])
                key = await create_api_key(store, f"eval-{name}-{uuid.uuid4().hex[:6]}")
                return Api(http, stack.base_url, key.secret)

            yield stack, api_for
    finally:
        await client.close()
        stack.stop_all()
        await remove_namespace(DEFAULT_AMQP_URL, bus_names(stack.namespace), force=True)
        mongo.stop()


async def placements(api: Api) -> dict[str, str]:
    placed, page = {}, 1
    while True:
        body = (await api.get("/api/v2/issues", params={"source": "clustering", "limit": "100",
                                                        "page": str(page)})).body
        for issue in body["data"]:
            detail = (await api.get(f"/api/v2/issues/{issue['id']}")).data
            placed.update(dict.fromkeys(detail["traceIds"], issue["id"]))
        if not body["pagination"]["hasMore"]:
            return placed
        page += 1


async def through_stack(api: Api, name: str, batch_size: int) -> Report:
    """Posts the set, then reads the issues until they have not changed for `SETTLED_AFTER`
    seconds (the service has no "done" to wait for: it clusters whatever arrives)."""
    rows = sorted(records(name), key=lambda r: r["timestamp"])
    labels = {row["id"]: row["mode"] for row in rows}
    for start in range(0, len(rows), batch_size):
        batch = [{k: v for k, v in row.items() if k != "mode"} for row in rows[start : start + batch_size]]
        response = await api.post("/api/v2/traces", json={"traces": batch})
        if response.status != 201:
            raise RuntimeError(f"POST /api/v2/traces answered {response.status}: {response.body}")
    last, stable_since, started = None, time.monotonic(), time.monotonic()
    while time.monotonic() - started < GIVE_UP_AFTER:
        now = await placements(api)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= SETTLED_AFTER:
            break
        await asyncio.sleep(0.25)
    return score(last or {}, labels)


async def run_sets(names: list[str], batch_size: int) -> dict[str, Report]:
    async with running_stack() as (_, api_for):
        return {name: await through_stack(await api_for(name), name, batch_size) for name in names}
