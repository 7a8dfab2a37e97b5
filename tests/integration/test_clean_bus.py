"""`make clean-bus BUS_NAMESPACE=… [FORCE=1]` against the real broker: it removes what the
services declare in a namespace, and refuses while something still consumes there."""

import asyncio
import os
import subprocess

import aio_pika

from deploy.local.clean_bus import bus_names
from deploy.local.processes import ROOT
from shared.messaging.cleanup import present
from shared.messaging.commands import CommandServer
from shared.messaging.events import EventPublisher
from shared.messaging.topology import Topology
from tests.support.output import said


def clean_bus(amqp: str, namespace: str, force: bool = False) -> subprocess.CompletedProcess:
    arguments = ["make", "-s", "clean-bus", f"BUS_NAMESPACE={namespace}", *(["FORCE=1"] if force else [])]
    return subprocess.run(arguments, cwd=ROOT, env={**os.environ, "AMQP_URL": amqp}, capture_output=True, text=True,
                          timeout=60)


async def test_clean_bus_refuses_a_namespace_in_use_unless_forced_then_leaves_nothing(amqp, namespace):
    topology = Topology(namespace)
    connection = await aio_pika.connect(amqp)  # not robust: a robust one declares its queue again once deleted
    probe = await aio_pika.connect(amqp)
    try:
        await EventPublisher(connection, topology, "issues").start()
        server = CommandServer(connection, topology, "issues", {}, prefetch=1)
        await server.start()
        names = bus_names(namespace)
        declared = await present(probe, names)
        assert f"{namespace}.issues.commands" in declared.queues
        assert {f"{namespace}.commands", f"{namespace}.issues.events"} <= set(declared.exchanges)

        refused = await asyncio.to_thread(clean_bus, amqp, namespace)
        assert refused.returncode != 0, refused.stdout + refused.stderr
        said(refused.stderr, "in use", "nothing deleted", f"{namespace}.issues.commands", "FORCE=1")
        assert await present(probe, names) == declared

        forced = await asyncio.to_thread(clean_bus, amqp, namespace, force=True)
        assert forced.returncode == 0, forced.stderr
        said(forced.stdout, f"deleted {len(declared.queues)} queues and {len(declared.exchanges)} exchanges")
        left = await present(probe, names)
        assert (left.queues, left.exchanges) == ([], [])
    finally:
        await connection.close()
        await probe.close()

    again = await asyncio.to_thread(clean_bus, amqp, namespace)
    assert again.returncode == 0 and "deleted 0 queues and 0 exchanges" in again.stdout, again.stderr
