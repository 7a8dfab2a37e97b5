"""Webhook endpoints, the deliveries of events to them, and the rules of both: which URLs may be
called, how a payload is signed, when a failed delivery is tried again."""

import base64
import hashlib
import ipaddress
import json
import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from shared.contracts.common import new_id
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Forbidden, InvalidRequest
from shared.contracts.webhooks import Attempt, DeliveryView, WebhookView

SECRET_PREFIX = "whsec_"
PREVIOUS_SECRET_KEPT_FOR = timedelta(days=1)
JITTER = 0.2
SNIPPET_CHARS = 500

BLOCKED, PENDING, SUCCEEDED, FAILED = "blocked", "pending", "succeeded", "failed"
UNFINISHED = (BLOCKED, PENDING)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_webhook_id() -> str:
    return new_id("wh")


def checked_url(url: str) -> tuple[str, int]:
    """The host and port of an endpoint URL: http(s) only, with a host, no credentials."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise InvalidRequest(f"url is not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidRequest("url must be an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise InvalidRequest("url has an invalid port") from None
    if not parts.hostname:
        raise InvalidRequest("url must name a host")
    if parts.username or parts.password:
        raise InvalidRequest("url must not carry credentials; authenticate receivers by the signature")
    return parts.hostname, port


def forbidden_address(address: str) -> bool:
    """Loopback, link-local, private, shared, reserved, multicast: anything not globally routable
    (an IPv4 address mapped into IPv6 judged as the IPv4 one)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def literal_address(host: str) -> str | None:
    """The host itself when it is an IP address (`[::1]` written without its brackets)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def refuse_private(host: str, addresses: list[str]) -> None:
    bad = sorted({address for address in addresses if forbidden_address(address)})
    if bad:
        raise Forbidden(f"url host {host} resolves to a loopback, link-local or private address "
                             f"({', '.join(bad)}); the server does not call its own network "
                             "(WEBHOOK_ALLOW_PRIVATE=true allows it)")


@dataclass
class Endpoint:
    id: str
    workspace: str
    url: str
    event_types: list[str]
    enabled: bool
    description: str | None
    secret: str
    created_at: datetime
    updated_at: datetime
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    def view(self) -> WebhookView:
        return WebhookView(id=self.id, url=self.url, event_types=self.event_types, enabled=self.enabled,
                           description=self.description, created_at=self.created_at, updated_at=self.updated_at,
                           failing_since=self.failing_since, disabled_at=self.disabled_at,
                           disabled_reason=self.disabled_reason)

    def signing_secrets(self, now: datetime) -> list[str]:
        previous = self.previous_secret if self.previous_secret_until and now < self.previous_secret_until else None
        return [self.secret, *([previous] if previous else [])]


def signature(secrets_: list[str], message_id: str, at: datetime, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,` signature per secret, space-separated."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_)


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """The `webhook-id`: the same for every attempt (and every redelivery) of one event to one endpoint."""
    return "msg_" + hashlib.sha256(f"{event_id}/{endpoint_id}".encode()).hexdigest()[:32]


def resource_of(event_type: str, payload: dict) -> tuple[str, str | None]:
    """The lane of an event (deliveries of one resource go to an endpoint in order) and its resource id."""
    family = event_type.split(".", 1)[0]
    name = {"issue": "issue", "fix": "fix", "shadow_test": "test", "webhook": "webhook"}.get(family, family)
    resource = payload.get(name) if isinstance(payload.get(name), dict) else {}
    resource_id = resource.get("id") or payload.get(f"{name}Id")
    return f"{family}:{resource_id}", resource_id


def webhook_body(envelope: Envelope) -> str:
    """What a receiver gets: the event type, its time, its workspace and the event's payload."""
    return json.dumps({"type": envelope.type, "timestamp": envelope.model_dump(mode="json")["time"],
                       "workspace": envelope.workspace, "data": envelope.payload},
                      ensure_ascii=False, separators=(",", ":"))


@dataclass
class Delivery:
    id: str
    workspace: str
    endpoint_id: str
    event_id: str
    event_type: str
    correlation_id: str
    lane: str
    order_key: str
    resource_id: str | None
    body: str
    status: str
    created_at: datetime
    updated_at: datetime
    attempts: list[Attempt] = field(default_factory=list)
    round_start: int = 0
    next_attempt_at: datetime | None = None

    @classmethod
    def of(cls, envelope: Envelope, endpoint: Endpoint, now: datetime) -> "Delivery":
        lane, resource_id = resource_of(envelope.type, envelope.payload)
        version = envelope.payload.get("version")
        order_key = f"{version if isinstance(version, int) else 0:012d}.{envelope.time.timestamp():017.3f}"
        return cls(delivery_id(envelope.message_id, endpoint.id), endpoint.workspace, endpoint.id,
                   envelope.message_id, envelope.type, envelope.correlation_id, lane, order_key, resource_id,
                   webhook_body(envelope), BLOCKED, now, now)

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)

    def view(self) -> DeliveryView:
        return DeliveryView(id=self.id, webhook_id=self.endpoint_id, event_type=self.event_type,
                            event_id=self.event_id, resource_id=self.resource_id, status=self.status,
                            attempt_count=self.attempt_count, next_attempt_at=self.next_attempt_at,
                            created_at=self.created_at, updated_at=self.updated_at, attempts=self.attempts)


@dataclass(frozen=True)
class Response:
    """What one HTTP attempt got: a status (None when no answer came), or an error."""

    status: int | None
    latency_ms: float
    error: str | None = None
    snippet: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def attempt(self, number: int, at: datetime) -> Attempt:
        error = self.error
        if error is None and not self.ok:
            error = f"redirect not followed (HTTP {self.status})" if 300 <= (self.status or 0) < 400 \
                else f"HTTP {self.status}"
        return Attempt(number=number, at=at, outcome="succeeded" if self.ok else "failed",
                       response_status=self.status, latency_ms=round(self.latency_ms, 2), error=error,
                       response_snippet=(self.snippet or "")[:SNIPPET_CHARS] or None)


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff from the settings' delays, each stretched by up to `JITTER` at random."""

    delays: tuple[float, ...]
    rng: random.Random = field(default_factory=random.Random)

    def delay_after(self, failed_in_round: int) -> tuple[int, float] | None:
        """The delay level and seconds before the next attempt, after `failed_in_round` failed
        attempts of this round; None when the schedule is spent."""
        if failed_in_round > len(self.delays):
            return None
        level = failed_in_round - 1
        return level, self.delays[level] * (1 + JITTER * self.rng.random())

    def with_rng(self, rng: random.Random) -> "RetrySchedule":
        return replace(self, rng=rng)
