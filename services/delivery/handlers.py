"""The delivery service's use cases: managing a workspace's endpoints, turning each public event
into one delivery per subscribed endpoint, and attempting deliveries until they succeed or the
retry schedule is spent.

Delivery semantics. A delivery is stored once per event and endpoint (its id, the `webhook-id`,
derives from both), so a redelivered event changes nothing. Deliveries of one resource (an
issue, a fix, a shadow test) to one endpoint go one at a time, in the order of the resource's
`version`: a later one stays `blocked` until the one before it succeeded or failed for good.
The first attempt of a delivery nothing waits before is made by the event's consumer itself;
every other attempt is a message on the broker (`AttemptDue`, numbered); a failed attempt schedules
the next one in a delay queue that dead-letters it back when its time comes, so no consumer
sleeps and a restart loses nothing. An attempt message whose number is not the next one is a
duplicate and is dropped; a sweep re-sends the attempts of deliveries whose message was lost
(a crash between storing and publishing). Receivers may see an attempt twice (at least once):
they de-duplicate by `webhook-id`.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from services.delivery.domain.model import (
    BLOCKED,
    FAILED,
    JITTER,
    PENDING,
    SUCCEEDED,
    Delivery,
    Endpoint,
    Response,
    RetrySchedule,
    checked_url,
    forbidden_address,
    literal_address,
    new_secret,
    new_webhook_id,
    refuse_private,
    signature,
)
from services.delivery.ports import Attempts, DeliveryRepository, EndpointRepository, Receivers, Resolver
from shared.contracts.common import Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, NotFound
from shared.contracts.webhooks import (
    AttemptDue,
    CreateWebhook,
    CreateWebhookResult,
    DeleteWebhook,
    DeliveryView,
    GetWebhook,
    ListDeliveries,
    ListWebhooks,
    ResendDelivery,
    RotateWebhookSecret,
    UpdateWebhook,
    WebhookEndpointDisabled,
    WebhookView,
    WebhookWithSecret,
)
from shared.messaging.commands import CommandContext
from shared.store.creation import create_once, replay

log = structlog.get_logger(__name__)

SWEEP_BATCH = 100


@dataclass(frozen=True)
class Dependencies:
    endpoints: EndpointRepository
    deliveries: DeliveryRepository
    attempts: Attempts
    receivers: Receivers
    resolver: Resolver
    schedule: RetrySchedule
    allow_private: bool
    disable_after: timedelta
    grace: timedelta
    notify: Callable[[str], None]
    clock: Callable[[], datetime] = utc_now


def _with_secret(endpoint: Endpoint) -> WebhookWithSecret:
    return WebhookWithSecret(**endpoint.view().model_dump(), secret=endpoint.secret)


async def _check_url(deps: Dependencies, url: str) -> None:
    host, port = checked_url(url)
    if deps.allow_private:
        return
    if literal := literal_address(host):
        refuse_private(host, [literal])
        return
    try:
        addresses = await deps.resolver.addresses(host, port)
    except (OSError, UnicodeError):
        return  # a name that does not resolve yet: its attempts will say so
    refuse_private(host, addresses)


async def create_webhook(command: CreateWebhook, ctx: CommandContext, deps: Dependencies) -> CreateWebhookResult:
    if seen := await deps.endpoints.find_creation(ctx.workspace, ctx.command_id):
        return CreateWebhookResult(webhook=WebhookWithSecret.model_validate(replay(seen, command)), replayed=True)
    await _check_url(deps, command.url)
    now = deps.clock()

    def build() -> Endpoint:
        return Endpoint(new_webhook_id(), ctx.workspace, command.url, list(command.event_types), command.enabled,
                        command.description, new_secret(), now, now)

    endpoint, response = await create_once(ctx.command_id, command, build, lambda e: _with_secret(e).to_wire(),
                                           deps.endpoints.add)
    return CreateWebhookResult(webhook=WebhookWithSecret.model_validate(response), replayed=endpoint is None)


async def _existing(deps: Dependencies, ctx: CommandContext, webhook_id: str) -> Endpoint:
    endpoint = await deps.endpoints.get(ctx.workspace, webhook_id)
    if endpoint is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    return endpoint


async def get_webhook(command: GetWebhook, ctx: CommandContext, deps: Dependencies) -> WebhookView:
    return (await _existing(deps, ctx, command.webhook_id)).view()


async def list_webhooks(command: ListWebhooks, ctx: CommandContext, deps: Dependencies) -> Page[WebhookView]:
    endpoints, total = await deps.endpoints.find_page(ctx.workspace, command)
    return Page[WebhookView](items=[e.view() for e in endpoints], page=command.page, limit=command.limit, total=total)


async def update_webhook(command: UpdateWebhook, ctx: CommandContext, deps: Dependencies) -> WebhookView:
    """A redelivered update sets the same fields again. Turning an endpoint on again forgets its failures."""
    fields = command.patch.given()
    if "url" in fields:
        await _check_url(deps, fields["url"])
    endpoint = await deps.endpoints.update(ctx.workspace, command.webhook_id, fields, deps.clock())
    if endpoint is None:
        raise NotFound(f"Webhook {command.webhook_id} not found")
    return endpoint.view()


async def rotate_secret(command: RotateWebhookSecret, ctx: CommandContext, deps: Dependencies) -> WebhookWithSecret:
    endpoint = await deps.endpoints.rotate(ctx.workspace, command.webhook_id, new_secret(), ctx.command_id,
                                           deps.clock())
    if endpoint is None:
        raise NotFound(f"Webhook {command.webhook_id} not found")
    return _with_secret(endpoint)


async def delete_webhook(command: DeleteWebhook, ctx: CommandContext, deps: Dependencies) -> dict:
    """The endpoint and its deliveries go; attempts still queued for them find nothing and are dropped."""
    if not await deps.endpoints.delete(ctx.workspace, command.webhook_id, ctx.command_id):
        raise NotFound(f"Webhook {command.webhook_id} not found")
    await deps.deliveries.delete_for_endpoint(ctx.workspace, command.webhook_id)
    return {"webhookId": command.webhook_id}


async def list_deliveries(command: ListDeliveries, ctx: CommandContext, deps: Dependencies) -> Page[DeliveryView]:
    await _existing(deps, ctx, command.webhook_id)
    deliveries, total = await deps.deliveries.find_page(ctx.workspace, command)
    return Page[DeliveryView](items=[d.view() for d in deliveries], page=command.page, limit=command.limit,
                              total=total)


async def resend_delivery(command: ResendDelivery, ctx: CommandContext, deps: Dependencies) -> DeliveryView:
    """Out of order by nature: it goes at once, whatever else waits for its endpoint."""
    await _existing(deps, ctx, command.webhook_id)
    delivery = await deps.deliveries.get(ctx.workspace, command.delivery_id)
    if delivery is None or delivery.endpoint_id != command.webhook_id:
        raise NotFound(f"Delivery {command.delivery_id} not found")
    if delivery.status not in (SUCCEEDED, FAILED):
        raise Conflict(f"Delivery {delivery.id} is {delivery.status}: it is still being delivered")
    now = deps.clock()
    resent = await deps.deliveries.resend(delivery, now + deps.grace, now)
    if resent is None:
        raise Conflict(f"Delivery {delivery.id} changed meanwhile; read it again")
    await deps.attempts.now(AttemptDue(delivery_id=resent.id, attempt=resent.attempt_count + 1), _ctx(resent))
    return resent.view()


async def on_event(_event: object, envelope: Envelope, deps: Dependencies) -> None:
    """One delivery per enabled endpoint of the event's workspace that subscribed to its type. A
    delivery nothing waits before is attempted here at once, with the endpoint just read: no
    attempt message, no second read. A crash before its attempt is recorded leaves it `pending`
    with a deadline, and the sweep sends it then, as it does for a lost attempt message."""
    now = deps.clock()
    endpoints = await deps.endpoints.subscribed(envelope.workspace, envelope.type)
    deliveries = [await deps.deliveries.add(Delivery.of(envelope, endpoint, now)) for endpoint in endpoints]
    outcomes = await asyncio.gather(*(_release(deps, delivery, endpoint)
                                      for delivery, endpoint in zip(deliveries, endpoints, strict=True)),
                                    return_exceptions=True)  # every endpoint's attempt ends before one error is raised
    if errors := [outcome for outcome in outcomes if isinstance(outcome, BaseException)]:
        raise errors[0]
    log.info("event fanned out", workspace=envelope.workspace)


async def on_attempt_due(due: AttemptDue, envelope: Envelope, deps: Dependencies) -> None:
    delivery = await deps.deliveries.get(envelope.workspace, due.delivery_id)
    if delivery is None or delivery.status != PENDING or delivery.attempt_count != due.attempt - 1:
        log.info("attempt not due (made already, or its delivery is gone); dropped", delivery_id=due.delivery_id,
                 attempt=due.attempt)
        return
    endpoint = await deps.endpoints.get(envelope.workspace, delivery.endpoint_id)
    await _attempt(deps, delivery, endpoint, due.attempt, envelope.correlation_id)


async def _attempt(deps: Dependencies, delivery: Delivery, endpoint: Endpoint | None, number: int,
                   correlation_id: str) -> None:
    now = deps.clock()
    if endpoint is None or not endpoint.enabled:
        reason = "endpoint deleted" if endpoint is None else "endpoint disabled"
        await _finish(deps, delivery, Response(None, 0.0, error=reason).attempt(number, now), FAILED)
        return
    response = await _send(deps, endpoint, delivery, now)
    attempt = response.attempt(number, now)
    log.info("delivery attempted", delivery_id=delivery.id, webhook_id=endpoint.id, attempt=number,
             outcome=attempt.outcome, response_status=attempt.response_status, error=attempt.error,
             latency_ms=attempt.latency_ms)
    if response.ok:
        # always: another delivery may have failed since the endpoint was read
        await asyncio.gather(deps.endpoints.mark_healthy(endpoint), _finish(deps, delivery, attempt, SUCCEEDED))
        return
    disabled = await _disable_if_failing_too_long(deps, endpoint, now, correlation_id)
    retry = None if disabled else deps.schedule.delay_after(number - delivery.round_start)
    if retry is None:
        await _finish(deps, delivery, attempt, FAILED)
        return
    level, seconds = retry
    next_at = now + timedelta(seconds=seconds)
    due_by = next_at + timedelta(seconds=JITTER * deps.schedule.delays[level]) + deps.grace
    if await deps.deliveries.record(delivery, attempt, PENDING, next_at, due_by):
        await deps.attempts.later(AttemptDue(delivery_id=delivery.id, attempt=number + 1), _ctx(delivery),
                                  level, seconds)


async def sweep(deps: Dependencies) -> None:
    """Re-sends the attempts whose message was lost, and releases deliveries left blocked by a
    crash between one delivery finishing and the next one's release."""
    now = deps.clock()
    for delivery in await deps.deliveries.overdue(now, SWEEP_BATCH):
        if await deps.deliveries.postpone(delivery, now + deps.grace):
            log.warning("attempt overdue; sent again", delivery_id=delivery.id, correlation_id=delivery.correlation_id)
            await deps.attempts.now(AttemptDue(delivery_id=delivery.id, attempt=delivery.attempt_count + 1),
                                    _ctx(delivery))
    for delivery in await deps.deliveries.blocked_since(now - deps.grace, SWEEP_BATCH):
        await _release(deps, delivery)


def _ctx(delivery: Delivery) -> CommandContext:
    return CommandContext(uuid.uuid4().hex, delivery.workspace, None, delivery.correlation_id)


async def _release(deps: Dependencies, delivery: Delivery, endpoint: Endpoint | None = None) -> None:
    """Sends a blocked delivery's first attempt once nothing before it waits for its endpoint:
    here and now when the caller holds the `endpoint` (the event's fan-out), else as an attempt
    message. Both the delivery itself (after it is stored) and the one before it (after it
    finished) try, so one of them sees the other's write; the atomic move to pending lets only
    one send it."""
    if delivery.status != BLOCKED or await deps.deliveries.unfinished_before(delivery):
        return
    now = deps.clock()
    if not await deps.deliveries.release(delivery, now + deps.grace, now):
        return
    if endpoint is not None:
        await _attempt(deps, replace(delivery, status=PENDING, next_attempt_at=now), endpoint,
                       delivery.attempt_count + 1, delivery.correlation_id)
    else:
        await deps.attempts.now(AttemptDue(delivery_id=delivery.id, attempt=delivery.attempt_count + 1),
                                _ctx(delivery))


async def _finish(deps: Dependencies, delivery: Delivery, attempt, status: str) -> None:
    if await deps.deliveries.record(delivery, attempt, status, None, None):
        following = await deps.deliveries.first_unfinished(delivery.endpoint_id, delivery.lane)
        if following is not None:
            await _release(deps, following)


async def _send(deps: Dependencies, endpoint: Endpoint, delivery: Delivery, now: datetime) -> Response:
    host, port = checked_url(endpoint.url)
    if not deps.allow_private:
        try:
            addresses = [literal] if (literal := literal_address(host)) else await deps.resolver.addresses(host, port)
        except (OSError, UnicodeError) as error:
            return Response(None, 0.0, error=f"{host} does not resolve: {getattr(error, 'strerror', None) or error}")
        if bad := [address for address in addresses if forbidden_address(address)]:
            return Response(None, 0.0, error=f"refused: {host} resolves to a private address ({bad[0]})")
    body = delivery.body.encode()
    headers = {
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature(endpoint.signing_secrets(now), delivery.id, now, body),
        "content-type": "application/json",
        "user-agent": "agent-reliability-webhooks/1",
    }
    return await deps.receivers.post(endpoint.url, headers, body)


async def _disable_if_failing_too_long(deps: Dependencies, endpoint: Endpoint, now: datetime,
                                       correlation_id: str) -> bool:
    failing_since = await deps.endpoints.mark_failing(endpoint, now)
    if now - failing_since < deps.disable_after:
        return False
    hours = deps.disable_after.total_seconds() / 3600
    reason = f"every attempt failed for {hours:g} hours (since {failing_since.isoformat()})"
    disabled_view = endpoint.view().model_copy(update={"enabled": False, "disabled_at": now,
                                                       "disabled_reason": reason, "failing_since": failing_since})
    event = WebhookEndpointDisabled(workspace=endpoint.workspace, webhook=disabled_view, reason=reason,
                                    failing_since=failing_since)
    envelope = Envelope(type=event.routing_key, workspace=endpoint.workspace, correlation_id=correlation_id,
                        payload=event.to_wire())
    if await deps.endpoints.disable(endpoint, reason, now, envelope):
        log.warning("endpoint disabled after failing too long", webhook_id=endpoint.id)
        deps.notify(endpoint.id)
    return True
