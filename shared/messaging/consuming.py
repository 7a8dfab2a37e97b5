"""What every consumer needs to stop cleanly: the handlers in progress, and a cancel that does
not hang while the broker is away."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from aio_pika.abc import AbstractQueue

from shared.messaging.rpc import BROKER_ERRORS

log = structlog.get_logger(__name__)


class InFlight:
    """Counts the handlers in progress."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def track(self) -> Iterator[None]:
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def stop_consuming(self, queue: AbstractQueue, consumer_tag: str, grace: float) -> None:
        """Cancels the consumer, then waits up to `grace` seconds for the handlers in progress;
        what is not done by then is redelivered."""
        try:
            await asyncio.wait_for(queue.cancel(consumer_tag), timeout=2)
        except (TimeoutError, *BROKER_ERRORS) as error:
            log.warning("could not cancel the consumer (broker unreachable?)", queue=queue.name, error=repr(error))
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("messages still in progress at shutdown; they will be redelivered", queue=queue.name,
                        count=self.count)
