"""Attempt messages on the broker. An attempt due now goes to the service's work exchange; one
due later waits in the delay queue of its backoff level (`<ns>.delivery.retry-<level>`, no
consumer), whose messages dead-letter back to the work exchange when their time-to-live ends.
So a retry a day away is a message in RabbitMQ, not a timer in a process: a restart, or every
instance being down, loses none.

Each message carries its own time-to-live (the level's delay, stretched by the jitter). A queue
expires messages from its head only, so one can wait behind an older message of the same level
for up to that level's jitter (a fifth of its delay); the sweep's deadlines allow for that.
Dead-lettering is at-least-once (quorum queues, RabbitMQ 3.10+): a message leaves a delay queue
only once the work exchange's queue has it."""

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.contracts.envelope import Envelope
from shared.contracts.webhooks import DELIVERY_SERVICE, AttemptDue
from shared.messaging.commands import CommandContext
from shared.messaging.events import EventPublisher
from shared.messaging.rpc import BrokerUnavailable
from shared.messaging.topology import Topology, declare_work_exchange

PUBLISH_TIMEOUT_SECONDS = 5.0


def delay_queue(topology: Topology, level: int) -> str:
    return topology.subscription_queue(DELIVERY_SERVICE, f"retry-{level}")


async def declare_delay_queues(channel: AbstractChannel, topology: Topology, levels: int) -> None:
    exchange = await declare_work_exchange(channel, topology, DELIVERY_SERVICE)
    for level in range(levels):
        await channel.declare_queue(
            delay_queue(topology, level),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": exchange.name,
                "x-dead-letter-routing-key": AttemptDue.routing_key,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )


class BrokerAttempts:
    def __init__(self, connection: AbstractRobustConnection, topology: Topology, publisher: EventPublisher,
                 levels: int):
        self._connection = connection
        self._topology = topology
        self._publisher = publisher
        self._levels = levels

    async def start(self) -> None:
        self._channel = await self._connection.channel(publisher_confirms=True)
        await declare_delay_queues(self._channel, self._topology, self._levels)

    async def now(self, due: AttemptDue, ctx: CommandContext) -> None:
        await self._publisher.publish(_envelope(due, ctx))

    async def later(self, due: AttemptDue, ctx: CommandContext, level: int, seconds: float) -> None:
        envelope = _envelope(due, ctx)
        message = aio_pika.Message(
            envelope.to_bytes(), content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.message_id, type=envelope.type, expiration=seconds,
            headers={"x-correlation-id": envelope.correlation_id, "x-workspace": envelope.workspace})
        try:
            await self._channel.default_exchange.publish(message, routing_key=delay_queue(self._topology, level),
                                                         timeout=PUBLISH_TIMEOUT_SECONDS)
        except TimeoutError as error:
            raise BrokerUnavailable("the broker did not confirm a delayed attempt") from error


def _envelope(due: AttemptDue, ctx: CommandContext) -> Envelope:
    return Envelope(type=due.routing_key, workspace=ctx.workspace, correlation_id=ctx.correlation_id,
                    payload=due.to_wire())
