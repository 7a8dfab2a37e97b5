"""The labelled sets through a running stack, as a user sends them: each set's traces posted to
`POST /api/v2/traces` in arrival order, in batches, into a workspace of its own; then the issues
the clustering service made (`GET /api/v2/issues?source=clustering`) are scored against the labels.

    python -m eval.clustering --stack
"""

import asyncio
import time

from bench.own_stack import own_stack
from eval.clustering.dataset import records
from eval.clustering.metrics import Report, score
from tests.support.api import Api

SETTLED_AFTER = 3.0
GIVE_UP_AFTER = 120.0


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
    async with own_stack("eval") as (_, api_for):
        return {name: await through_stack(await api_for(f"eval-{name}"), name, batch_size) for name in names}
