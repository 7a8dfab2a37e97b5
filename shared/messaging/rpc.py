"""Request/reply over RabbitMQ: the caller's side.

A command is published persistent and confirmed to the commands exchange, routed by the
target service's name, with `mandatory` set so that a service whose queue does not exist is
reported at once. Deadlines protect the caller's promise that a command it gave up on is not
executed later: the message expires in the broker after `timeout`; its `x-start-by` header
(epoch milliseconds, a margin before the timeout) tells the service to discard it unexecuted
if it has not started by then; and its `x-deadline` header bounds the store calls the
service makes for it (see `deadline.py`).

Once the broker has confirmed a command, the outcome is only known from its reply: losing the
connection while waiting is not reported as a failure but waited out, and the caller gets a
timeout if no reply comes.
"""

import asyncio
import time
import uuid
from typing import Protocol

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from shared.contracts.envelope import Envelope, Reply
from shared.messaging.topology import Topology, declare_commands_exchange

log = structlog.get_logger(__name__)


class Command(Protocol):
    """A contract another service answers: its owner, its message type, its wire form."""

    service: str
    message_type: str

    def to_wire(self) -> dict: ...


START_BY_HEADER = "x-start-by"
DEADLINE_HEADER = "x-deadline"
CORRELATION_HEADER = "x-correlation-id"

REPLY_QUEUE_EXPIRES_MS = 60_000


class BrokerUnavailable(Exception):
    """The broker did not take the message (there was no connection to hand it to), or did not
    confirm an event in time: a command was not executed; an event is to be published again."""


BROKER_ERRORS = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,  # a RuntimeError: the channel is closed or reconnecting
    ConnectionError,
    BrokerUnavailable,
)
"""What the broker or the connection to it raises while it is away: worth retrying as it is.
Anything else a publish raises is a bug, not an outage. A confirm that does not come in time is
raised as `BrokerUnavailable` by the code that waited for it."""


class ServiceNotRunning(Exception):
    """No queue is bound for the target service: it has never started on this broker."""


class ReplyTimeout(Exception):
    """No reply came before the deadline."""


class CommandInDoubt(ReplyTimeout):
    """The connection was lost, or the confirm did not come, after the command was handed to the
    broker: it may have been routed and carried out, so it is answered like a missing reply
    (`504`, retry with the same idempotency key), never as "nothing was done"."""


class RpcClient:
    def __init__(self, connection: AbstractRobustConnection, topology: Topology, *, start_margin: float):
        self._connection = connection
        self._topology = topology
        self._start_margin = start_margin
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._reply_queue_name = topology.reply_queue(uuid.uuid4().hex[:12])

    async def start(self) -> None:
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await declare_commands_exchange(self._channel, self._topology)
        # Not exclusive: after a half-open connection drop, the reconnected client may declare
        # it again at once instead of waiting for the broker to reap the old connection.
        reply_queue = await self._channel.declare_queue(
            self._reply_queue_name, auto_delete=True, arguments={"x-expires": REPLY_QUEUE_EXPIRES_MS}
        )
        await reply_queue.consume(self._on_reply, no_ack=True)

    @property
    def connected(self) -> bool:
        return not self._connection.is_closed and not self._channel.is_closed

    async def call(self, service: str, envelope: Envelope, timeout: float) -> Reply:
        if not self.connected:
            raise BrokerUnavailable("not connected to the message broker")
        started = time.monotonic()
        deadline = time.time() + timeout
        start_by_ms = int((deadline - min(self._start_margin, timeout / 2)) * 1000)
        call_id = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        message = aio_pika.Message(
            envelope.to_bytes(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.message_id,
            correlation_id=call_id,
            reply_to=self._reply_queue_name,
            type=envelope.type,
            expiration=timeout,
            headers={
                START_BY_HEADER: start_by_ms,
                DEADLINE_HEADER: int(deadline * 1000),
                CORRELATION_HEADER: envelope.correlation_id,
            },
        )
        try:
            try:
                await self._exchange.publish(message, routing_key=service, mandatory=True, timeout=timeout)
            except aio_pika.exceptions.PublishError as error:
                raise ServiceNotRunning(f"no queue is bound for the {service} service") from error
            except (TimeoutError, *BROKER_ERRORS) as error:
                raise CommandInDoubt(
                    f"the connection to the message broker failed before it confirmed the command: {error!r}"
                ) from error
            remaining = timeout - (time.monotonic() - started)
            try:
                return await asyncio.wait_for(future, max(remaining, 0.001))
            except TimeoutError as error:
                raise ReplyTimeout(f"{service} did not reply within {timeout:g}s") from error
        finally:
            self._pending.pop(call_id, None)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is None or future.done():
            log.info("late or unknown reply dropped", call_id=message.correlation_id)
            return
        try:
            future.set_result(Reply.from_bytes(message.body))
        except ValueError as error:
            future.set_exception(CommandInDoubt(f"the reply could not be read: {error}"))
