"""Consuming another service's events.

Each subscription is a durable quorum queue owned by the subscriber
(`<ns>.<subscriber>.<name>`), bound to the emitting service's topic exchange, so every
instance of the subscriber competes for its messages and no event is missed while they are
all down. Delivery semantics, per event:
- malformed (not an envelope, or a payload that does not match its contract): rejected into
  the dead-letter queue at once;
- the store is unavailable, or the document to change keeps changing under concurrent writes:
  retried in place with backoff until it works (the message is held, not requeued, so a long
  outage does not burn the delivery limit);
- any other exception: requeued, and dead-lettered after the queue's delivery limit;
- handled: acknowledged after the handler returns.
Events arrive at least once and not always in order: handlers must ignore what they have
already applied (by `message_id` or by the aggregate's `version`).
"""

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from shared.contracts.envelope import Envelope
from shared.contracts.errors import Contended, Unavailable
from shared.messaging.consuming import InFlight
from shared.messaging.metrics import MESSAGE_SECONDS, MESSAGES_HANDLED
from shared.messaging.topology import Topology, declare_events_exchange, declare_work_exchange, declare_work_queue

log = structlog.get_logger(__name__)

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0

type EventHandler = Callable[[Any, Envelope], Awaitable[None]]


@dataclass(frozen=True)
class EventRoute:
    contract: type[BaseModel]
    handler: EventHandler


def routes_to(handler: EventHandler, *contracts: type[BaseModel]) -> dict[str, EventRoute]:
    """Each event contract routed, by its own routing key, to `handler`."""
    return {contract.routing_key: EventRoute(contract, handler) for contract in contracts}


@dataclass(frozen=True)
class Subscription:
    """`prefetch`, when given, bounds this subscription's concurrent handlers instead of the
    service's `PREFETCH_COUNT`. With `work`, the queue is bound to `source`'s work exchange
    (the work a service sends itself) instead of its events exchange."""

    name: str
    source: str
    routes: Mapping[str, EventRoute]
    prefetch: int | None = None
    work: bool = False


class EventSubscriber:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        topology: Topology,
        subscriber: str,
        subscription: Subscription,
        prefetch: int,
    ):
        self._connection = connection
        self._topology = topology
        self._subscription = subscription
        self._prefetch = prefetch
        self._stopping = False
        self._in_flight = InFlight()
        self.queue_name = topology.subscription_queue(subscriber, subscription.name)

    async def start(self) -> None:
        self._channel = await self._connection.channel()
        await self._channel.set_qos(prefetch_count=self._subscription.prefetch or self._prefetch)
        declare = declare_work_exchange if self._subscription.work else declare_events_exchange
        exchange = await declare(self._channel, self._topology, self._subscription.source)
        bindings = [(exchange, event_type) for event_type in self._subscription.routes]
        self._queue = await declare_work_queue(self._channel, self._topology, self.queue_name, bindings)
        self._consumer_tag = await self._queue.consume(self._on_message)

    async def stop(self, grace: float = 20.0) -> None:
        """Stops taking events and waits up to `grace` seconds for those in progress (a replay
        half done when a runner is scaled down would be redelivered and paid for again). A
        handler only waiting for the store to come back gives up and leaves its event queued."""
        self._stopping = True
        await self._in_flight.stop_consuming(self._queue, self._consumer_tag, grace)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        with self._in_flight.track():
            await self._handle(message)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.from_bytes(message.body)
            route = self._subscription.routes[envelope.type]
            event = route.contract.model_validate(envelope.payload)
        except (ValidationError, KeyError) as error:
            log.error("malformed event dead-lettered", queue=self.queue_name, message_id=message.message_id,
                      error=repr(error))
            await message.reject(requeue=False)
            MESSAGES_HANDLED.labels(self.queue_name, "event", "malformed").inc()
            return
        with structlog.contextvars.bound_contextvars(
            correlation_id=envelope.correlation_id, event_id=envelope.message_id, event_type=envelope.type
        ):
            started = time.monotonic()
            try:
                await self._retrying()(route.handler, event, envelope)
            except (Unavailable, Contended):
                await message.nack(requeue=True)  # still failing when asked to stop
                return
            except Exception:
                log.exception("event handler failed; requeued", redelivered=message.redelivered)
                await message.nack(requeue=True)
                MESSAGES_HANDLED.labels(self.queue_name, "event", "failed").inc()
                return
            await message.ack()
            elapsed = time.monotonic() - started
            MESSAGES_HANDLED.labels(self.queue_name, "event", "ok").inc()
            MESSAGE_SECONDS.labels(self.queue_name).observe(elapsed)
            log.info("event handled", queue=self.queue_name, duration_ms=round(elapsed * 1000, 2))

    def _retrying(self) -> AsyncRetrying:
        """Retries the handler in place while the store is away or the document keeps changing:
        after 0.1s, then twice as long each time up to 5s, until it works or the subscriber stops
        (then the last error is raised). Any other error is raised at once."""
        return AsyncRetrying(
            retry=retry_if_exception_type((Unavailable, Contended)),
            wait=wait_exponential(multiplier=FIRST_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS),
            stop=lambda _state: self._stopping,
            before_sleep=_log_retry,
            reraise=True,
        )


def _log_retry(state: RetryCallState) -> None:
    log.warning("event not handled yet; retrying", error=str(state.outcome.exception()),
                retry_in_s=state.next_action.sleep)
