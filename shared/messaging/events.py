"""Publishing a service's events on the topic exchange it owns, and its own work on its work
exchange."""

from collections.abc import Collection

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from shared.contracts.envelope import Envelope
from shared.messaging.rpc import BrokerUnavailable
from shared.messaging.topology import Topology, declare_events_exchange, declare_work_exchange


class EventPublisher:
    """Publishes persistent messages and waits for the broker's confirm of each.

    The routing key is the event type (`issue.created` ...). Messages of the `work` types are
    the service's work for itself: they go to its work exchange, never to its events exchange.
    A publish that raises was not confirmed, and the caller keeps the event to publish again;
    one whose confirm does not come within `timeout` raises `BrokerUnavailable`.
    """

    def __init__(
        self, connection: AbstractRobustConnection, topology: Topology, service: str, work: Collection[str] = ()
    ):
        self._connection = connection
        self._topology = topology
        self._service = service
        self._work = frozenset(work)

    async def start(self) -> None:
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await declare_events_exchange(self._channel, self._topology, self._service)
        if self._work:
            self._work_exchange = await declare_work_exchange(self._channel, self._topology, self._service)

    async def publish(self, envelope: Envelope, timeout: float = 5.0) -> None:
        try:
            await self._publish(envelope, timeout)
        except TimeoutError as error:
            raise BrokerUnavailable(f"the broker did not confirm {envelope.type} within {timeout:g}s") from error

    async def _publish(self, envelope: Envelope, timeout: float) -> None:
        exchange = self._work_exchange if envelope.type in self._work else self._exchange
        await exchange.publish(
            aio_pika.Message(
                envelope.to_bytes(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=envelope.message_id,
                type=envelope.type,
                timestamp=envelope.time,
                headers={"x-correlation-id": envelope.correlation_id, "x-workspace": envelope.workspace},
            ),
            routing_key=envelope.type,
            timeout=timeout,
        )
