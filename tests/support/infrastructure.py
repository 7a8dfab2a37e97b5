"""Where the tests' broker and store come from.

MongoDB, in order: `MONGODB_URL`; a testcontainers MongoDB when a Docker engine answers;
otherwise the embedded wire-protocol server (mongoeco) in a subprocess. RabbitMQ: `AMQP_URL`,
otherwise the local broker on 127.0.0.1:5672 (.ci/run starts or installs it).
"""

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import aio_pika
from yarl import URL

from deploy.local.processes import embedded_mongo, free_port, port_open

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def amqp_url() -> str:
    url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    if url == DEFAULT_AMQP_URL and not port_open("127.0.0.1", 5672):
        raise RuntimeError("No RabbitMQ on 127.0.0.1:5672: run `bash deploy/local/ensure-rabbitmq.sh` or set AMQP_URL")
    return url


def broker_endpoint(url: str) -> tuple[str, int]:
    """The host and port an AMQP URL reaches (5672, or 5671 for amqps, when it names none)."""
    parsed = URL(url)
    return parsed.host or "127.0.0.1", parsed.explicit_port or (5671 if parsed.scheme == "amqps" else 5672)


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


def _broker_names(kind: str) -> list[str]:
    if shutil.which("rabbitmqctl") is None:
        return []
    listed = subprocess.run(["rabbitmqctl", "-q", f"list_{kind}", "name"], capture_output=True, text=True, timeout=60)
    return listed.stdout.split()


async def delete_namespaces(url: str, namespaces: set[str]) -> None:
    """Deletes the queues and exchanges the test run declared under its namespaces (those the
    local broker lists; a remote broker given by AMQP_URL keeps them)."""
    if not namespaces:
        return
    prefixes = tuple(f"{namespace}." for namespace in namespaces)
    queues = [name for name in await asyncio.to_thread(_broker_names, "queues") if name.startswith(prefixes)]
    exchanges = [name for name in await asyncio.to_thread(_broker_names, "exchanges") if name.startswith(prefixes)]
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()
