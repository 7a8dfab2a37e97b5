"""What the delivery handlers need from the world: the endpoint and delivery stores, the broker
(attempts now and later), the HTTP client that calls receivers, and name resolution."""

from datetime import datetime
from typing import Protocol

from services.delivery.domain.model import Delivery, Endpoint, Response
from shared.contracts.common import PageRequest
from shared.contracts.envelope import Envelope
from shared.contracts.webhooks import Attempt, AttemptDue, ListDeliveries
from shared.messaging.commands import CommandContext
from shared.store.creation import Creation


class EndpointRepository(Protocol):
    async def add(self, endpoint: Endpoint, creation: Creation) -> None: ...

    async def find_creation(self, workspace: str, command_id: str) -> Creation | None: ...

    async def get(self, workspace: str, endpoint_id: str) -> Endpoint | None: ...

    async def find_page(self, workspace: str, query: PageRequest) -> tuple[list[Endpoint], int]: ...

    async def subscribed(self, workspace: str, event_type: str) -> list[Endpoint]: ...

    async def update(self, workspace: str, endpoint_id: str, fields: dict, now: datetime) -> Endpoint | None: ...

    async def rotate(self, workspace: str, endpoint_id: str, secret: str, command_id: str,
                     now: datetime) -> Endpoint | None:
        """The endpoint with `secret` as its new one; a repeated command gets the same answer."""

    async def delete(self, workspace: str, endpoint_id: str, command_id: str) -> bool: ...

    async def mark_healthy(self, endpoint: Endpoint) -> None: ...

    async def mark_failing(self, endpoint: Endpoint, now: datetime) -> datetime:
        """Since when the endpoint has failed without a success in between."""

    async def disable(self, endpoint: Endpoint, reason: str, now: datetime, event: Envelope) -> bool:
        """Disables it and records `event` in the same write; False if it was not enabled."""


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> Delivery:
        """Stores a new delivery, or returns the one stored for the same event and endpoint."""

    async def get(self, workspace: str, delivery_id: str) -> Delivery | None: ...

    async def find_page(self, workspace: str, query: ListDeliveries) -> tuple[list[Delivery], int]: ...

    async def unfinished_before(self, delivery: Delivery) -> bool: ...

    async def first_unfinished(self, endpoint_id: str, lane: str) -> Delivery | None: ...

    async def release(self, delivery: Delivery, due_by: datetime, now: datetime) -> bool:
        """Blocked to pending; True for the one caller that moved it."""

    async def record(self, delivery: Delivery, attempt: Attempt, status: str, next_attempt_at: datetime | None,
                     due_by: datetime | None) -> bool:
        """Adds the attempt if it is the next one; False if another run of it was recorded first."""

    async def resend(self, delivery: Delivery, due_by: datetime, now: datetime) -> Delivery | None: ...

    async def overdue(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose attempt should have come by now."""

    async def postpone(self, delivery: Delivery, due_by: datetime) -> bool: ...

    async def blocked_since(self, before: datetime, limit: int) -> list[Delivery]: ...

    async def delete_for_endpoint(self, workspace: str, endpoint_id: str) -> None: ...


class Attempts(Protocol):
    """Attempt messages on the broker: due now, or after a delay in a delay queue."""

    async def now(self, due: AttemptDue, ctx: CommandContext) -> None: ...

    async def later(self, due: AttemptDue, ctx: CommandContext, level: int, seconds: float) -> None: ...


class Receivers(Protocol):
    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Response: ...


class Resolver(Protocol):
    async def addresses(self, host: str, port: int) -> list[str]: ...
