"""The delivery service's rules: which URLs may be called, how payloads are signed, when a
failed delivery is tried again, and which resource an event belongs to."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.delivery.domain.model import (
    JITTER,
    Endpoint,
    RetrySchedule,
    checked_url,
    delivery_id,
    forbidden_address,
    new_secret,
    refuse_private,
    resource_of,
    signature,
)
from services.delivery.settings import DEFAULT_RETRY_DELAYS, DeliverySettings
from shared.contracts.errors import Forbidden, InvalidRequest


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.8", "172.16.3.4", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1",
                                     "224.0.0.1", "fe80::1%eth0"])
def test_loopback_link_local_private_and_reserved_addresses_are_forbidden(address):
    assert forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert not forbidden_address(address)


def test_a_host_with_any_private_address_is_refused_naming_the_setting():
    with pytest.raises(Forbidden, match="WEBHOOK_ALLOW_PRIVATE"):
        refuse_private("mixed.example", ["8.8.8.8", "10.0.0.1"])
    refuse_private("public.example", ["8.8.8.8"])


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost",
                                 "https://user:secret@example.com/", "http://example.com:99999/",
                                 "http://[::1/x"])
def test_only_plain_http_and_https_urls_are_taken(url):
    with pytest.raises(InvalidRequest):
        checked_url(url)
    assert checked_url("https://hooks.example.com/x") == ("hooks.example.com", 443)
    assert checked_url("HTTP://hooks.example.com:8443/x") == ("hooks.example.com", 8443)


def test_backoff_grows_with_jitter_and_ends():
    schedule = RetrySchedule((1.0, 10.0, 100.0), random.Random(3))
    levels = [schedule.delay_after(n) for n in (1, 2, 3)]
    assert [level for level, _ in levels] == [0, 1, 2]
    for (_level, seconds), base in zip(levels, (1.0, 10.0, 100.0), strict=True):
        assert base <= seconds <= base * (1 + JITTER)
    assert schedule.delay_after(4) is None
    assert len({RetrySchedule((60.0,)).delay_after(1)[1] for _ in range(20)}) > 1, "jittered"


def test_the_default_schedule_spans_about_a_day():
    delays = DeliverySettings().retry_delays
    assert DeliverySettings().webhook_retry_delays_seconds == DEFAULT_RETRY_DELAYS
    assert timedelta(hours=20) < timedelta(seconds=sum(delays)) < timedelta(hours=30)
    assert list(delays) == sorted(delays)


@pytest.mark.parametrize("delays", ["", "1,x", "0,1", ",".join(["1"] * 21), "-1"])
def test_a_bad_retry_schedule_is_refused_at_start_up(delays):
    with pytest.raises(ValidationError):
        DeliverySettings(webhook_retry_delays_seconds=delays)


def test_the_webhook_id_is_stable_per_event_and_endpoint():
    assert delivery_id("evt1", "wh_a") == delivery_id("evt1", "wh_a")
    assert len({delivery_id("evt1", "wh_a"), delivery_id("evt1", "wh_b"), delivery_id("evt2", "wh_a")}) == 3


def test_signatures_verify_with_standard_webhooks_with_either_secret_during_rotation():
    now = datetime.now(UTC)
    old, new = new_secret(), new_secret()
    assert old.startswith("whsec_") and old != new
    body = b'{"type":"issue.created","data":{}}'
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signature([new, old], "msg_1", now, body)}
    assert Webhook(new).verify(body, headers) == Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    endpoint = Endpoint("wh_1", "ws", "https://x.example", ["issue.created"], True, None, new, now, now,
                        previous_secret=old, previous_secret_until=now + timedelta(hours=1))
    assert endpoint.signing_secrets(now) == [new, old]
    assert endpoint.signing_secrets(now + timedelta(hours=2)) == [new]


@pytest.mark.parametrize(("event_type", "payload", "resource"), [
    ("issue.created", {"issue": {"id": "iss_1"}}, "iss_1"),
    ("issue.deleted", {"issueId": "iss_2", "issue": None}, "iss_2"),
    ("fix.status_changed", {"fix": {"id": "fix_1"}, "issueId": "iss_1"}, "fix_1"),
    ("shadow_test.completed", {"test": {"id": "st_1"}, "issueId": "iss_1"}, "st_1"),
    ("webhook.endpoint_disabled", {"webhook": {"id": "wh_1"}}, "wh_1"),
])
def test_each_event_belongs_to_its_resource(event_type, payload, resource):
    lane, resource_id = resource_of(event_type, payload)
    assert resource_id == resource and lane.endswith(resource)
