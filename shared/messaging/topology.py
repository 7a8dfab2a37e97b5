"""Names and shapes of every exchange and queue, all under one namespace prefix.

Conventions (after nameko): commands go to one direct exchange, routed by service name to
that service's durable command queue; each emitting service owns a durable topic exchange
for its events, and may own a durable direct exchange for the work it sends itself (a pool
of its own workers takes it from its work queues; no other service binds to it, so its
events exchange carries only the events it publishes for others); each subscribing service
owns a durable queue per subscription, so that instances of one service compete for messages
while different services each get a copy.
Every work queue is a quorum queue with a dead-letter queue beside it: a message that is
rejected, or that is delivered `DELIVERY_LIMIT` times without being acknowledged, ends there,
and is kept for a week (at most `DEAD_LETTERS_MAX` of them, the oldest dropped first).
Queue arguments are fixed when a queue is first declared: changing them later means deleting
the queue, or setting a policy on the broker instead.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

DELIVERY_LIMIT = 5
DEAD_LETTERS_KEPT_MS = 7 * 24 * 3600 * 1000
DEAD_LETTERS_MAX = 100_000


@dataclass(frozen=True)
class Topology:
    namespace: str

    @property
    def commands_exchange(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dead-letter"

    def command_queue(self, service: str) -> str:
        return f"{self.namespace}.{service}.commands"

    def events_exchange(self, service: str) -> str:
        return f"{self.namespace}.{service}.events"

    def work_exchange(self, service: str) -> str:
        return f"{self.namespace}.{service}.work"

    def subscription_queue(self, subscriber: str, name: str) -> str:
        return f"{self.namespace}.{subscriber}.{name}"

    def reply_queue(self, client_id: str) -> str:
        return f"{self.namespace}.replies.{client_id}"

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}.dead"


async def declare_commands_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    return await channel.declare_exchange(topology.commands_exchange, aio_pika.ExchangeType.DIRECT, durable=True)


async def declare_events_exchange(channel: AbstractChannel, topology: Topology, service: str) -> AbstractExchange:
    return await channel.declare_exchange(topology.events_exchange(service), aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_work_exchange(channel: AbstractChannel, topology: Topology, service: str) -> AbstractExchange:
    return await channel.declare_exchange(topology.work_exchange(service), aio_pika.ExchangeType.DIRECT, durable=True)


async def declare_work_queue(
    channel: AbstractChannel,
    topology: Topology,
    name: str,
    bindings: list[tuple[AbstractExchange, str]],
) -> AbstractQueue:
    """A durable quorum queue with its dead-letter queue, bound as given."""
    dead_letters = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dead_queue = await channel.declare_queue(
        topology.dead_letter_queue(name),
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-message-ttl": DEAD_LETTERS_KEPT_MS,
            "x-max-length": DEAD_LETTERS_MAX,
        },
    )
    await dead_queue.bind(dead_letters, routing_key=name)
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": name,
            "x-delivery-limit": DELIVERY_LIMIT,
        },
    )
    for exchange, routing_key in bindings:
        await queue.bind(exchange, routing_key=routing_key)
    return queue
