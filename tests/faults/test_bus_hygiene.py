"""The broker left as the tests found it: a stack deletes its namespace when it ends, and dozens
of namespaces made and removed while their clients die mid-handshake and mid-publish leave
nothing behind and a broker that still answers at once.

Counts come from `rabbitmqctl -n RABBITMQ_NODENAME list_queues/list_exchanges` (bounded), so these
tests need the node behind AMQP_URL."""

import asyncio
import os
import random
import signal
import uuid

import pytest

from deploy.local.processes import SERVICES, Process, service
from shared.settings import amqp_endpoint
from tests.conftest import running_stack, workspace_api
from tests.support.infrastructure import (
    broker_answers,
    broker_counts,
    counts_back_to,
    delete_namespaces,
    names_used,
    rabbitmq_node,
    rabbitmqctl,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(rabbitmq_node() is None and not os.environ.get("REQUIRE_BROKER_FAULTS"),
                       reason="counts the broker's queues with rabbitmqctl: set RABBITMQ_NODENAME"),
]

SOAK_NAMESPACES = 30
AT_ONCE = 6
PUBLISHER = """
import asyncio, os, sys
import aio_pika
async def main():
    connection = await aio_pika.connect(os.environ["AMQP_URL"])
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(sys.argv[1], aio_pika.ExchangeType.DIRECT, durable=True)
    print("publishing", flush=True)
    while True:
        await exchange.publish(aio_pika.Message(b"x" * 512), routing_key="nobody")
asyncio.run(main())
"""


async def test_a_stack_deletes_its_namespace_when_it_ends(amqp, mongo, log_dir, mongo_client, namespaces, http):
    """A whole system that declared everything and carried events (a fix moved, its issue
    following), then stopped: the broker holds as many queues and exchanges as before."""
    before = await broker_counts()
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces) as stack:
        api = await workspace_api(stack, mongo_client, http)
        issue = await api.create_issue()
        fix = await api.create_fix(issue["id"])
        await api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})
        await api.issue_when(issue["id"], lambda i: i["status"] == "proposed_fix", "events to flow", 30)
        during = await broker_counts()
    declared = names_used(stack.namespace)
    assert during[0] >= before[0] + len(declared.queues) // 2, (during, before)
    await counts_back_to(before, 15)


def appending(path):
    return open(path, "a")


async def killed_after(process: Process, seconds: float) -> None:
    await asyncio.sleep(seconds)
    process.signal(signal.SIGKILL)
    await asyncio.to_thread(process.popen.wait, 10)


async def half_handshakes(amqp: str, count: int) -> None:
    """Connections that send the AMQP protocol header and hang up, or hold the socket silent,
    as a client killed mid-handshake leaves them."""
    host, port = amqp_endpoint(amqp)
    writers = []
    for n in range(count):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(b"AMQP\x00\x00\x09\x01")
        await writer.drain()
        if n % 2:
            writer.transport.abort()
        else:
            writers.append(writer)
    await asyncio.sleep(0.5)
    for writer in writers:
        writer.transport.abort()


async def test_dozens_of_namespaces_made_and_removed_while_clients_die_leave_the_broker_answering(
        amqp, mongo, log_dir, mongo_client):
    """Breaks: thirty namespaces, each with a service killed (SIGKILL) at a random moment from
    mid-handshake to serving, six at a time; publishers killed mid-publish; a hundred half-done
    handshakes. Proves: once the namespaces are removed the queue and exchange counts are back,
    a new connection opens within a second, and `rabbitmqctl status` answers."""
    before = await broker_counts()
    rng = random.Random(17)
    made = [f"soak{uuid.uuid4().hex[:8]}" for _ in range(SOAK_NAMESPACES)]
    try:
        for first in range(0, len(made), AT_ONCE):
            dying = []
            for n, namespace in enumerate(made[first:first + AT_ONCE], first):
                env = {"AMQP_URL": amqp, "MONGODB_URL": mongo, "MONGODB_DATABASE": f"test_{namespace}",
                       "BUS_NAMESPACE": namespace, "LOG_FORMAT": "json"}
                log = appending(log_dir / f"{namespace}.log")
                dying.append(killed_after(service(SERVICES[n % len(SERVICES)], env, output=log).start(),
                                          rng.uniform(0.05, 4.0)))
                if n % 3 == 0:
                    publisher = Process(f"publisher-{namespace}", ["-c", PUBLISHER, f"{namespace}.commands"],
                                        env={"AMQP_URL": amqp}, output=log).start()
                    dying.append(killed_after(publisher, rng.uniform(0.5, 2.0)))
            await asyncio.gather(half_handshakes(amqp, 100 // (len(made) // AT_ONCE)), *dying)
        left_by_the_dead = (await broker_counts())[0] - before[0]
        assert left_by_the_dead > SOAK_NAMESPACES, "the killed services declared too little to prove anything"
    finally:
        await delete_namespaces(amqp, set(made))
        for namespace in made:
            await mongo_client.drop_database(f"test_{namespace}")

    assert await broker_answers(amqp, 1, "a new connection within a second") < 1
    status = await asyncio.to_thread(rabbitmqctl, "status", timeout=20)
    assert "Uptime" in status.stdout
    await counts_back_to(before, 20)
