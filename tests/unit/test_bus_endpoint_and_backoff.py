"""One default broker endpoint; bounded connection attempts that leave nothing open; reconnects
that back off with jitter up to a cap."""

import asyncio
import random
import re
import time
from pathlib import Path

import pytest

from shared.messaging.connection import MAX_BACKOFF_SECONDS, BackingOffConnection, backoff_seconds, open_connection
from shared.settings import DEFAULT_AMQP_URL, CommonSettings, amqp_endpoint

ROOT = Path(__file__).resolve().parents[2]
BROKER_PORT = re.compile(r"(?<![\d.])567[12](?!\d)")
CHECKED = ("*.py", "*.sh", "Makefile", ".ci/run")
ALLOWED = {
    Path("shared/settings.py"): "the one default endpoint",
    Path("tests/unit/test_bus_endpoint_and_backoff.py"): "this test",
}
"""Deployment manifests (deploy/compose.yaml, deploy/k8s/) configure their own broker and are not checked."""


class Longest:
    @staticmethod
    def uniform(_low: float, high: float) -> float:
        return high


def checked_files() -> list[Path]:
    found = set()
    for pattern in CHECKED:
        found |= {path for path in ROOT.rglob(pattern) if path.is_file()}
    skipped = {".venv", ".git", "node_modules", "var", ".pytest_cache"}
    return sorted(path for path in found if not skipped & set(path.relative_to(ROOT).parts))


def test_no_broker_port_is_written_anywhere_but_the_one_default():
    offenders = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                 for path in checked_files() if path.relative_to(ROOT) not in ALLOWED
                 for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
                 if BROKER_PORT.search(line)]
    assert not offenders, "broker ports outside shared/settings.py:\n" + "\n".join(offenders)


def test_the_default_endpoint_is_what_settings_use_and_urls_name_their_port():
    assert CommonSettings.model_fields["amqp_url"].default == DEFAULT_AMQP_URL
    assert amqp_endpoint("amqp://u:p@broker.example:5999/vhost") == ("broker.example", 5999)
    assert amqp_endpoint("amqp://u:p@broker.example/") == ("broker.example", amqp_endpoint(DEFAULT_AMQP_URL)[1])
    assert amqp_endpoint("amqps://broker.example/")[1] != amqp_endpoint("amqp://broker.example/")[1]


def test_backoff_grows_with_failures_is_jittered_and_never_passes_the_cap():
    rng = random.Random(7)
    assert backoff_seconds(0, rng) == 0
    bounds = [backoff_seconds(n, Longest()) for n in range(1, 12)]
    assert bounds == sorted(bounds) and bounds[0] == 0.5 and bounds[-1] == MAX_BACKOFF_SECONDS == 30
    samples = [backoff_seconds(n, rng) for n in range(1, 200) for _ in range(5)]
    assert all(0 <= wait <= 30 for wait in samples)
    assert len({round(backoff_seconds(8, rng), 6) for _ in range(20)}) > 15, "not jittered"
    assert backoff_seconds(10_000, Longest()) == 30


async def test_reconnect_attempts_back_off_and_each_pause_is_read_alike():
    connection = BackingOffConnection(DEFAULT_AMQP_URL, rng=Longest())
    connection._attempting = True
    pauses = []
    for _ in range(8):
        connection.transport = None  # what aio_pika does as each attempt starts
        pauses.append(connection.reconnect_interval)
        assert connection.reconnect_interval == pauses[-1]
    assert pauses == [0.5, 1, 2, 4, 8, 16, 30, 30]


async def test_an_attempt_at_a_broker_that_never_answers_is_bounded_and_closes_its_socket():
    """TCP connects, the AMQP handshake never completes (a wedged broker)."""
    closed = asyncio.Event()
    accepted = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()  # until the client hangs up
        closed.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    with pytest.raises((TimeoutError, ConnectionError, OSError)):
        await open_connection(f"amqp://guest:guest@127.0.0.1:{port}/", "wedged", timeout=0.5)
    assert time.monotonic() - started < 3
    await asyncio.wait_for(closed.wait(), 3)
    assert len(accepted) == 1, "an attempt was retried behind our back"
    server.close()
