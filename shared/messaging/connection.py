"""Opening the broker connection every process uses.

Every attempt to connect is bounded (`CONNECT_TIMEOUT_SECONDS`, TCP and the AMQP handshake
together) and a failed one leaves nothing open. Between attempts, first ones and reconnects
alike, a process waits a random time up to an exponentially growing bound capped at
`MAX_BACKOFF_SECONDS` ("full jitter"): many processes that lost the broker together do not
come back at it together, nor hammer a broker that is slow to start.
"""

import asyncio
import random

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

log = structlog.get_logger(__name__)

UNREACHABLE = (ConnectionError, OSError, TimeoutError, aio_pika.exceptions.AMQPError)
CONNECT_TIMEOUT_SECONDS = 10.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


def backoff_seconds(failures: int, rng: random.Random | None = None, first: float = FIRST_BACKOFF_SECONDS,
                    cap: float = MAX_BACKOFF_SECONDS) -> float:
    """How long to wait after `failures` failed attempts in a row: uniform in
    [0, min(cap, first * 2^(failures-1))]; 0 before any failure."""
    if failures <= 0:
        return 0.0
    bound = min(cap, first * 2 ** min(failures - 1, 32))
    return (rng or random).uniform(0, bound)


class BackingOffConnection(aio_pika.RobustConnection):
    """A robust connection whose pause between reconnect attempts grows, with jitter, up to
    `MAX_BACKOFF_SECONDS`, and starts again once it is connected.

    aio_pika sleeps `reconnect_interval` after each attempt and clears `transport` at the start
    of each; the attempts since the last success are counted there."""

    def __init__(self, *args, rng: random.Random | None = None, **kwargs):
        self._failures = 0
        self._interval_for: int | None = None
        self._interval = 0.0
        self._rng = rng
        self._transport = None
        super().__init__(*args, **kwargs)

    @property
    def transport(self):
        return self._transport

    @transport.setter
    def transport(self, value) -> None:
        if value is None and getattr(self, "_attempting", False):
            self._failures += 1
        self._transport = value

    @property
    def reconnect_interval(self) -> float:
        if self._interval_for != self._failures:
            self._interval_for, self._interval = self._failures, backoff_seconds(self._failures, self._rng)
        return self._interval

    @reconnect_interval.setter
    def reconnect_interval(self, _value) -> None:
        """aio_pika sets the fixed interval from its parameters; the backoff above replaces it."""

    async def _on_connected(self) -> None:
        await super()._on_connected()
        self._failures = 0
        self._attempting = True


async def open_connection(url: str, name: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> AbstractRobustConnection:
    """One bounded attempt: a robust connection, or an exception with nothing left open."""
    connection = BackingOffConnection(url, client_properties={"connection_name": name})
    try:
        await asyncio.wait_for(connection.connect(timeout=timeout), timeout + 1)
    except BaseException:
        await asyncio.shield(_close_quietly(connection))
        raise
    return connection


async def _close_quietly(connection: AbstractRobustConnection) -> None:
    try:
        await asyncio.wait_for(connection.close(), 5)
    except Exception as error:  # noqa: BLE001 - closing what never opened may fail in many ways
        log.debug("closing a failed connection attempt", error=str(error))


async def connect(
    url: str, name: str, stop: asyncio.Event | None = None, rng: random.Random | None = None,
    first_backoff: float = FIRST_BACKOFF_SECONDS, max_backoff: float = MAX_BACKOFF_SECONDS,
) -> AbstractRobustConnection | None:
    """A robust connection, named `name` in the broker's UI; waits (backing off) until the broker
    answers, or returns None if `stop` is set meanwhile.

    Once open, the connection re-establishes itself and every channel, queue and consumer
    declared through it after the broker comes back.
    """
    failures = 0
    while True:
        try:
            connection = await open_connection(url, name)
        except UNREACHABLE as error:
            failures += 1
            retry_in = backoff_seconds(failures, rng, first_backoff, max_backoff)
            log.warning("broker unreachable, retrying", error=str(error) or type(error).__name__,
                        retry_in_s=round(retry_in, 2))
            if await stopped_within(stop, retry_in):
                return None
            continue
        return _with_logged_outages(connection)


async def stopped_within(stop: asyncio.Event | None, seconds: float) -> bool:
    """Waits `seconds`, or less if `stop` is set meanwhile; says whether it was."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False


def _with_logged_outages(connection: AbstractRobustConnection) -> AbstractRobustConnection:
    def lost(*_args) -> None:
        if not connection.is_closed:
            log.warning("broker connection lost; reconnecting")

    connection.close_callbacks.add(lost)
    connection.reconnect_callbacks.add(lambda *_: log.info("broker connection restored"))
    return connection
