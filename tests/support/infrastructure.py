"""Where the tests' broker and store come from.

MongoDB, in order: `MONGODB_URL`; a testcontainers MongoDB when a Docker engine answers;
otherwise the embedded wire-protocol server (mongoeco) in a subprocess. RabbitMQ: `AMQP_URL`,
otherwise `shared.settings.DEFAULT_AMQP_URL`, the local broker (.ci/run starts or installs it).
`rabbitmqctl`, for the tests that restart or inspect the broker, acts on `RABBITMQ_NODENAME`
(only on the local default node when neither it nor AMQP_URL is set).
"""

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aio_pika
from yarl import URL

from deploy.local.clean_bus import bus_names
from deploy.local.processes import embedded_mongo, free_port, port_open
from shared.messaging.cleanup import NamespaceNames, namespace_names, remove_namespace
from shared.messaging.connection import UNREACHABLE
from shared.settings import DEFAULT_AMQP_URL, amqp_endpoint
from tests.support.waiting import eventually


def amqp_url() -> str:
    url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    if url == DEFAULT_AMQP_URL and not port_open(*amqp_endpoint(url)):
        raise RuntimeError(f"No RabbitMQ at {DEFAULT_AMQP_URL}: run `bash deploy/local/ensure-rabbitmq.sh` or set "
                           "AMQP_URL")
    return url


def broker_endpoint(url: str) -> tuple[str, int]:
    """The host and port an AMQP URL reaches."""
    return amqp_endpoint(url)


def through(url: str, port: int) -> str:
    """The same AMQP URL (credentials, virtual host, options) reaching the broker through a
    local proxy listening on `port`."""
    return str(URL(url).with_host("127.0.0.1").with_port(port))


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def mongodb_url(log_dir) -> Iterator[str]:
    if url := os.environ.get("MONGODB_URL"):
        yield url
    elif docker_engine_answers():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7.0") as container:
            yield container.get_connection_url()
    else:
        port = free_port()
        with open(log_dir / "mongo.log", "w") as log:
            server = embedded_mongo(port, None, output=log)
            try:
                server.start_listening(port)
                yield f"mongodb://127.0.0.1:{port}/"
            finally:
                server.stop()


TEST_SERVICES = ("echo", "pinger", "listener")
TEST_SUBSCRIPTIONS = {"listener": ["pings"]}
"""The stand-in services and subscriptions integration tests declare besides the real ones."""


def names_used(namespace: str) -> NamespaceNames:
    """Everything the services, and the tests' stand-ins, declare under `namespace`."""
    real, stand_ins = bus_names(namespace), namespace_names(namespace, TEST_SERVICES, TEST_SUBSCRIPTIONS)
    return NamespaceNames(real.queues + stand_ins.queues, real.exchanges + stand_ins.exchanges)


async def delete_namespaces(url: str, namespaces: set[str]) -> None:
    """Deletes every queue and exchange declared under each namespace, over AMQP (whatever
    broker AMQP_URL names; no rabbitmqctl), consumers or not."""
    for namespace in sorted(namespaces):
        await remove_namespace(url, names_used(namespace), force=True)


async def broker_answers(url: str, within: float, what: str = "the broker to answer") -> float:
    """Waits until a fresh AMQP connection opens (each attempt bounded to a few seconds, closed
    at once); how long that took. Fails after `within` seconds."""
    started = time.monotonic()

    async def opens() -> bool:
        try:
            connection = await aio_pika.connect(url, timeout=3)
        except (TimeoutError, *UNREACHABLE):
            return False
        await connection.close()
        return True

    await eventually(opens, within, what, interval=0.2)
    return time.monotonic() - started


def rabbitmq_node() -> list[str] | None:
    """The `-n node` arguments for `rabbitmqctl`: RABBITMQ_NODENAME when set; otherwise none
    (rabbitmqctl's default, the local node), and only when the tests use the default broker.
    None: no node the tests may act on."""
    if shutil.which("rabbitmqctl") is None:
        return None
    if node := os.environ.get("RABBITMQ_NODENAME"):
        return ["-n", node]
    return [] if os.environ.get("AMQP_URL", DEFAULT_AMQP_URL) == DEFAULT_AMQP_URL else None


def rabbitmqctl(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`rabbitmqctl [-n RABBITMQ_NODENAME] ...`, killed after `timeout` seconds."""
    node = rabbitmq_node()
    if node is None:
        raise RuntimeError("no RabbitMQ node to act on: set RABBITMQ_NODENAME to the node behind AMQP_URL")
    return subprocess.run(["rabbitmqctl", *node, *arguments], capture_output=True, text=True, timeout=timeout,
                          check=True)


async def broker_counts() -> tuple[int, int]:
    """(queues, exchanges) on the node `rabbitmqctl` acts on, each listing bounded."""
    queues, exchanges = await asyncio.gather(
        asyncio.to_thread(rabbitmqctl, "-q", "list_queues", "name", timeout=30),
        asyncio.to_thread(rabbitmqctl, "-q", "list_exchanges", "name", timeout=30))
    return len(queues.stdout.split()), len(exchanges.stdout.splitlines())


async def counts_back_to(before: tuple[int, int], within: float) -> None:
    """Waits until the node holds as many queues and exchanges as `before`; fails saying both."""

    async def back() -> bool:
        return await broker_counts() == before

    try:
        await eventually(back, within, "the broker's queue and exchange counts to return", interval=0.5)
    except AssertionError:
        raise AssertionError(f"{await broker_counts()} (queues, exchanges) now, {before} before") from None
