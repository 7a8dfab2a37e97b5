"""Removing a bus namespace from the broker: every queue and exchange `Topology` names under it.

AMQP cannot list what a broker holds, so the names come from the topology: the commands and
dead-letter exchanges, each service's events and work exchanges and command queue, and each
subscription queue, every work queue with its dead-letter queue. RPC reply queues are not
listed: they delete themselves once their client is gone (auto-delete, with an expiry).

Each name is probed with a passive declare first, so the result says what was there; a queue
with consumers (a stack still running in that namespace) stops the removal unless forced.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from shared.messaging.connection import CONNECT_TIMEOUT_SECONDS
from shared.messaging.topology import Topology


@dataclass(frozen=True)
class NamespaceNames:
    queues: list[str]
    exchanges: list[str]


def namespace_names(namespace: str, services: Iterable[str],
                    subscriptions: Mapping[str, Iterable[str]]) -> NamespaceNames:
    """Every durable name declared under `namespace` by `services`, whose subscription (and work)
    queues are `subscriptions[service]`."""
    topology = Topology(namespace)
    services = list(services)
    work_queues = [topology.command_queue(service) for service in services]
    work_queues += [topology.subscription_queue(service, name)
                    for service, names in subscriptions.items() for name in names]
    queues = [name for queue in work_queues for name in (queue, Topology.dead_letter_queue(queue))]
    exchanges = [topology.commands_exchange, topology.dead_letter_exchange]
    exchanges += [name for service in services
                  for name in (topology.events_exchange(service), topology.work_exchange(service))]
    return NamespaceNames(queues, exchanges)


class LiveConsumers(Exception):
    """The namespace is in use: these queues have consumers."""

    def __init__(self, consumers: dict[str, int]):
        super().__init__(", ".join(f"{queue} ({count})" for queue, count in sorted(consumers.items())))
        self.consumers = consumers


@dataclass
class Removed:
    queues: list[str] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)


class _Probe:
    """Passive declares on one channel, reopened after each 404 (which closes it)."""

    def __init__(self, connection: AbstractConnection):
        self._connection = connection
        self._channel: AbstractChannel | None = None

    async def channel(self) -> AbstractChannel:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel(publisher_confirms=False)
        return self._channel

    async def consumers(self, queue: str) -> int | None:
        """The queue's consumer count, or None when there is no such queue."""
        try:
            declared = await (await self.channel()).declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None
        return declared.declaration_result.consumer_count

    async def exchange_exists(self, exchange: str) -> bool:
        try:
            await (await self.channel()).get_exchange(exchange, ensure=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
        return True


async def present(connection: AbstractConnection, names: NamespaceNames) -> NamespaceNames:
    """Those of `names` the broker holds."""
    probe = _Probe(connection)
    queues = [queue for queue in names.queues if await probe.consumers(queue) is not None]
    exchanges = [exchange for exchange in names.exchanges if await probe.exchange_exists(exchange)]
    return NamespaceNames(queues, exchanges)


async def remove_names(connection: AbstractConnection, names: NamespaceNames, force: bool = False) -> Removed:
    """Deletes those of `names` that exist; raises LiveConsumers first, deleting nothing, when a
    queue has consumers and not `force`."""
    probe = _Probe(connection)
    counts = {queue: await probe.consumers(queue) for queue in names.queues}
    live = {queue: count for queue, count in counts.items() if count}
    if live and not force:
        raise LiveConsumers(live)
    removed = Removed()
    channel = await probe.channel()
    for queue, count in counts.items():
        if count is not None:
            await channel.queue_delete(queue)
            removed.queues.append(queue)
    for exchange in names.exchanges:
        if await probe.exchange_exists(exchange):
            await (await probe.channel()).exchange_delete(exchange)
            removed.exchanges.append(exchange)
    return removed


async def remove_namespace(url: str, names: NamespaceNames, force: bool = False) -> Removed:
    """`remove_names` over a connection of its own (bounded to connect, closed afterwards)."""
    connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_SECONDS,
                                        client_properties={"connection_name": "clean-bus"})
    try:
        return await remove_names(connection, names, force)
    finally:
        await connection.close()
