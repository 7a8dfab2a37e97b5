"""Webhook delivery against the event's own propagation, in one run.

`EVENTS` issues are created through the API at concurrency `CONCURRENCY`, with one endpoint of
the workspace subscribed to `issue.created` (a local aiohttp receiver answering 204 at once) and
a plain AMQP consumer bound to the same event on the issues exchange. For each issue, from the
moment its `201` came back: when the event reached the broker consumer (the outbox relay and the
hop: the event's own propagation), and when the signed call reached the receiver (that, plus the
delivery service's fan-out, its store writes, its attempt message and the HTTP call). All clocks
are this process's.

`python -m bench.webhooks` starts a stack of its own and prints the result; `make bench`
measures it with everything else (bench/run.py).
"""

import asyncio
import json
import os
import time
from statistics import quantiles

import aio_pika
import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from deploy.local.processes import free_port
from shared.contracts.envelope import Envelope
from shared.messaging.topology import Topology
from tests.support.api import Api
from tests.support.waiting import eventually

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "400"))
CONCURRENCY = 16
SETTINGS = {"webhook_allow_private": "true"}
"""The stack's delivery service must be allowed to call the receiver on 127.0.0.1."""


def _percentiles(values: list[float]) -> dict:
    cuts = quantiles(values, n=100)
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "max": round(max(values), 1)}


async def webhooks_against_events(base: str, key: str, amqp_url: str, namespace: str) -> dict:
    delivered: dict[str, float] = {}
    published: dict[str, float] = {}
    created: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        delivered.setdefault(event["data"]["issue"]["id"], time.monotonic())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(Topology(namespace).events_exchange("issues"), routing_key="issue.created")

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            published.setdefault(Envelope.from_bytes(message.body).payload["issue"]["id"], time.monotonic())
            await message.ack()

        await queue.consume(on_event)
        async with aiohttp.ClientSession() as http:
            api = Api(http, base, key)
            hook = await api.post("/api/webhooks", json={"url": f"http://127.0.0.1:{port}/",
                                                         "eventTypes": ["issue.created"]})
            assert hook.status == 201, hook.body
            todo = iter(range(EVENTS))
            started = time.monotonic()

            async def client() -> None:
                for n in todo:
                    issue = await api.create_issue(title=f"bench {n}", description="d", agentId="agent_bench",
                                                   severity="low")
                    created[issue["id"]] = time.monotonic()

            await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
            created_in = time.monotonic() - started
            await eventually(lambda: len(delivered) >= EVENTS and len(published) >= EVENTS, 120,
                             "every event delivered", interval=0.05)
            delivered_in = max(delivered.values()) - started
            deliveries = (await api.get(f"/api/webhooks/{hook.data['id']}/deliveries", params={"limit": 100})).body
    finally:
        await connection.close()
        await runner.cleanup()
    event_ms = [(published[i] - created[i]) * 1000 for i in created]
    webhook_ms = [(delivered[i] - created[i]) * 1000 for i in created]
    added_ms = [(delivered[i] - published[i]) * 1000 for i in created]
    return {
        "events": EVENTS, "concurrency": CONCURRENCY,
        "created_per_s": round(EVENTS / created_in, 1), "delivered_per_s": round(EVENTS / delivered_in, 1),
        "event": _percentiles(event_ms), "webhook": _percentiles(webhook_ms), "added": _percentiles(added_ms),
        "deliveries_recorded": deliveries["pagination"]["total"],
    }


def render(result: dict) -> list[str]:
    event, webhook, added = result["event"], result["webhook"], result["added"]
    return [
        "", "## 6. Webhook delivery against the event's own propagation", "",
        f"{result['events']} issues created at concurrency {result['concurrency']}, one endpoint subscribed to "
        "`issue.created` (a local receiver answering 204), and a plain AMQP consumer bound to the same event "
        "(bench/webhooks.py). Milliseconds from each `201`:", "",
        "| until | p50 | p95 | slowest |", "| --- | --- | --- | --- |",
        f"| the event reaches a broker consumer | {event['p50']} | {event['p95']} | {event['max']} |",
        f"| the signed call reaches the receiver | {webhook['p50']} | {webhook['p95']} | {webhook['max']} |",
        f"| added by the delivery service (receiver − consumer, per event) | {added['p50']} | {added['p95']} | "
        f"{added['max']} |",
        "", f"**{result['delivered_per_s']} events delivered per second** while the API created "
        f"{result['created_per_s']} issues per second (delivery kept up: the rate is the creation rate; "
        f"{result['deliveries_recorded']} deliveries recorded).",
    ]


async def _standalone() -> dict:
    from deploy.local.clean_bus import bus_names
    from deploy.local.processes import ROOT, embedded_mongo
    from deploy.local.stack import new_stack
    from services.gateway.adapters.api_key_store import MongoApiKeyStore
    from services.gateway.handlers import create_api_key
    from shared.messaging.cleanup import remove_namespace
    from shared.settings import DEFAULT_AMQP_URL

    amqp_url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    port = free_port()
    mongo = embedded_mongo(port, None, output=None).start_listening(port)
    url = f"mongodb://127.0.0.1:{port}/"
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = new_stack(amqp_url, url, log_dir, rate_limit_burst="100000000", rate_limit_per_second="100000000",
                      **SETTINGS)
    try:
        stack.start_all()
        client = AsyncMongoClient(url)
        key = (await create_api_key(MongoApiKeyStore(client[stack.database]["api_keys"]), "bench")).secret
        await client.close()
        return await webhooks_against_events(stack.base_url, key, amqp_url, stack.namespace)
    finally:
        stack.stop_all()
        await remove_namespace(amqp_url, bus_names(stack.namespace), force=True)
        mongo.stop()


if __name__ == "__main__":
    outcome = asyncio.run(_standalone())
    print(json.dumps(outcome))
    print("\n".join(render(outcome)))
