"""Opening the broker connection every process uses."""

import asyncio

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_fixed

log = structlog.get_logger(__name__)

UNREACHABLE = (ConnectionError, OSError, aio_pika.exceptions.AMQPError)


class _StopRequested(Exception):
    pass


async def connect(
    url: str, name: str, retry_interval: float = 2.0, stop: asyncio.Event | None = None
) -> AbstractRobustConnection | None:
    """A robust connection, named `name` in the broker's UI; waits until the broker answers,
    or returns None if `stop` is set meanwhile.

    Once open, the connection re-establishes itself and every channel, queue and consumer
    declared through it after the broker comes back.
    """

    async def wait_unless_stopped(seconds: float) -> None:
        if await stopped_within(stop, seconds):
            raise _StopRequested

    def log_retry(state: RetryCallState) -> None:
        log.warning("broker unreachable, retrying", error=str(state.outcome.exception()), retry_in_s=retry_interval)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(UNREACHABLE),
        wait=wait_fixed(retry_interval),
        sleep=wait_unless_stopped,
        before_sleep=log_retry,
    )
    try:
        connection = await retrying(
            aio_pika.connect_robust, url, client_properties={"connection_name": name}, reconnect_interval=1.0
        )
    except _StopRequested:
        return None
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
