"""Commands the delivery service answers, the views it returns and the events it emits."""

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from shared.contracts.common import ContractModel, PageRequest, PatchModel, Timestamp, distinct, trimmed

DELIVERY_SERVICE = "delivery"

WebhookEventType = Literal[
    "issue.created",
    "issue.updated",
    "issue.regressed",
    "issue.deleted",
    "fix.status_changed",
    "shadow_test.completed",
    "shadow_test.failed",
    "webhook.endpoint_disabled",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = WebhookEventType.__args__
DeliveryStatus = Literal["blocked", "pending", "succeeded", "failed"]

WebhookId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
DeliveryId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000,
                                               pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$")]
"""Printable ASCII (an internationalised host is written in punycode)."""
EventTypes = Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(WEBHOOK_EVENT_TYPES)),
                       AfterValidator(distinct)]
WebhookDescription = trimmed(1000)


class DeliveryCommand(ContractModel):
    service: ClassVar[str] = DELIVERY_SERVICE
    message_type: ClassVar[str]


class CreateWebhook(DeliveryCommand):
    """A new endpoint of the caller's workspace; its signing secret is in the answer, and only there."""

    message_type: ClassVar[str] = "webhooks.create"
    url: WebhookUrl
    event_types: EventTypes
    enabled: StrictBool = True
    description: WebhookDescription | None = None


class WebhookPatch(PatchModel):
    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    enabled: StrictBool | None = None
    description: WebhookDescription | None = None


class GetWebhook(DeliveryCommand):
    message_type: ClassVar[str] = "webhooks.get"
    webhook_id: WebhookId


class ListWebhooks(DeliveryCommand, PageRequest):
    message_type: ClassVar[str] = "webhooks.list"


class UpdateWebhook(DeliveryCommand):
    message_type: ClassVar[str] = "webhooks.update"
    webhook_id: WebhookId
    patch: WebhookPatch


class DeleteWebhook(DeliveryCommand):
    message_type: ClassVar[str] = "webhooks.delete"
    webhook_id: WebhookId


class RotateWebhookSecret(DeliveryCommand):
    """A new signing secret; the old one still signs beside it for a day (`webhook-signature`
    carries both), so receivers can switch without losing a delivery."""

    message_type: ClassVar[str] = "webhooks.rotate_secret"
    webhook_id: WebhookId


class ListDeliveries(DeliveryCommand, PageRequest):
    message_type: ClassVar[str] = "webhooks.list_deliveries"
    webhook_id: WebhookId
    status: DeliveryStatus | None = None


class ResendDelivery(DeliveryCommand):
    """Sends a finished delivery again, now, with the same `webhook-id` and a fresh retry schedule."""

    message_type: ClassVar[str] = "webhooks.resend_delivery"
    webhook_id: WebhookId
    delivery_id: DeliveryId


class WebhookView(ContractModel):
    id: str
    url: str
    event_types: list[WebhookEventType]
    enabled: bool
    description: str | None
    created_at: Timestamp
    updated_at: Timestamp
    failing_since: Timestamp | None = None
    disabled_at: Timestamp | None = None
    disabled_reason: str | None = None


class WebhookWithSecret(WebhookView):
    """The endpoint and its signing secret (`whsec_…`), shown once: on creation and on rotation."""

    secret: str


class CreateWebhookResult(ContractModel):
    webhook: WebhookWithSecret
    replayed: bool


class Attempt(ContractModel):
    number: int
    at: Timestamp
    outcome: Literal["succeeded", "failed"]
    response_status: int | None
    latency_ms: float
    error: str | None
    response_snippet: str | None


class DeliveryView(ContractModel):
    """One event sent to one endpoint: `id` is the `webhook-id` header of every attempt."""

    id: str
    webhook_id: str
    event_type: str
    event_id: str
    resource_id: str | None
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    attempts: list[Attempt]


class AttemptDue(ContractModel):
    """The delivery service's work for itself: try `delivery_id` for the `attempt`th time."""

    routing_key: ClassVar[str] = "delivery.attempt"
    delivery_id: str
    attempt: int = Field(ge=1)


class WebhookEndpointDisabled(ContractModel):
    """An endpoint failed every attempt for `WEBHOOK_DISABLE_AFTER_SECONDS` (a day) and was
    disabled; its owner turns it on again with `PATCH /api/webhooks/:id {"enabled": true}`."""

    routing_key: ClassVar[str] = "webhook.endpoint_disabled"
    workspace: str
    webhook: WebhookView
    reason: str
    failing_since: Timestamp
