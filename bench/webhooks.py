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

from deploy.local.processes import free_port
from shared.contracts.envelope import Envelope
from shared.messaging.topology import Topology
from tests.support.api import Api
from tests.support.waiting import eventually

LATENCY_EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "100"))
LATENCY_CONCURRENCY = 2
BACKLOG_EVENTS = int(os.environ.get("BENCH_WEBHOOK_BACKLOG", "300"))
BACKLOG_CONCURRENCY = 8
SETTINGS = {"webhook_allow_private": "true"}
"""The stack's delivery service must be allowed to call the receiver on 127.0.0.1."""


def _percentiles(values: list[float]) -> dict:
    cuts = quantiles(values, n=100)
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "max": round(max(values), 1)}


class Clocks:
    """When each issue's `201` came back, its event reached the broker consumer, its call the receiver."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.published: dict[str, float] = {}
        self.delivered: dict[str, float] = {}

    async def receive(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        self.delivered.setdefault(event["data"]["issue"]["id"], time.monotonic())
        return web.Response(status=204)

    async def on_event(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.published.setdefault(Envelope.from_bytes(message.body).payload["issue"]["id"], time.monotonic())
        await message.ack()

    async def create(self, api: Api, count: int, concurrency: int) -> list[str]:
        todo = iter(range(count))
        ids: list[str] = []

        async def client() -> None:
            for n in todo:
                issue = await api.create_issue(title=f"bench {n}", description="d", agentId="agent_bench",
                                               severity="low")
                self.created[issue["id"]] = time.monotonic()
                ids.append(issue["id"])

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return ids


async def webhooks_against_events(stack, key: str, amqp_url: str) -> dict:
    """Latency: issues created a few at a time, so nothing queues. Throughput: the delivery service
    stopped while `BACKLOG_EVENTS` issues are created and their events published, then started:
    deliveries per second from its first call to its last."""
    clocks = Clocks()
    app = web.Application()
    app.router.add_post("/", clocks.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(Topology(stack.namespace).events_exchange("issues"), routing_key="issue.created")
        await queue.consume(clocks.on_event)
        async with aiohttp.ClientSession() as http:
            api = Api(http, stack.base_url, key)
            hook = await api.post("/api/webhooks", json={"url": f"http://127.0.0.1:{port}/",
                                                         "eventTypes": ["issue.created"]})
            assert hook.status == 201, hook.body
            measured = await clocks.create(api, LATENCY_EVENTS, LATENCY_CONCURRENCY)
            await eventually(lambda: all(i in clocks.delivered and i in clocks.published for i in measured), 120,
                             "every event delivered", interval=0.02)
            stack.stop("delivery")
            backlog = await clocks.create(api, BACKLOG_EVENTS, BACKLOG_CONCURRENCY)
            await eventually(lambda: all(i in clocks.published for i in backlog), 300, "every event published")
            stack.start("delivery")
            await eventually(lambda: all(i in clocks.delivered for i in backlog), 300, "the backlog delivered")
            recorded = (await api.get(f"/api/webhooks/{hook.data['id']}/deliveries")).body["pagination"]["total"]
    finally:
        await connection.close()
        await runner.cleanup()
    arrivals = sorted(clocks.delivered[i] for i in backlog)
    return {
        "latency_events": LATENCY_EVENTS, "latency_concurrency": LATENCY_CONCURRENCY,
        "event": _percentiles([(clocks.published[i] - clocks.created[i]) * 1000 for i in measured]),
        "webhook": _percentiles([(clocks.delivered[i] - clocks.created[i]) * 1000 for i in measured]),
        "added": _percentiles([(clocks.delivered[i] - clocks.published[i]) * 1000 for i in measured]),
        "backlog": BACKLOG_EVENTS,
        "delivered_per_s": round((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), 1),
        "deliveries_recorded": recorded,
    }


def render(result: dict) -> list[str]:
    event, webhook, added = result["event"], result["webhook"], result["added"]
    return [
        "", "## 7. Webhook delivery against the event's own propagation", "",
        f"One endpoint subscribed to `issue.created` (a local receiver answering 204) beside a plain AMQP consumer "
        f"bound to the same event (bench/webhooks.py). {result['latency_events']} issues created "
        f"{result['latency_concurrency']} at a time; milliseconds from each `201`:", "",
        "| until | p50 | p95 | slowest |", "| --- | --- | --- | --- |",
        f"| the event reaches a broker consumer | {event['p50']} | {event['p95']} | {event['max']} |",
        f"| the signed call reaches the receiver | {webhook['p50']} | {webhook['p95']} | {webhook['max']} |",
        f"| added by the delivery service (receiver − consumer, per event) | {added['p50']} | {added['p95']} | "
        f"{added['max']} |",
        "", f"**{result['delivered_per_s']} events delivered per second**: {result['backlog']} events published "
        "while the delivery service was stopped, delivered from its first call to its last once it started "
        f"({result['deliveries_recorded']} deliveries recorded in all).",
    ]


async def _standalone() -> dict:
    from bench.own_stack import AMQP_URL, own_stack

    async with own_stack(**SETTINGS) as (stack, api_for):
        return await webhooks_against_events(stack, (await api_for("bench")).key, AMQP_URL)


if __name__ == "__main__":
    outcome = asyncio.run(_standalone())
    print(json.dumps(outcome))
    print("\n".join(render(outcome)))
