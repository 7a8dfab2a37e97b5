"""The delivery service's handlers over in-memory fakes: fan-out per workspace, order per
resource, retries then `failed`, disabling, duplicates dropped, lost attempts swept up."""

from datetime import UTC, datetime, timedelta

import pytest

from services.delivery import bootstrap, handlers
from services.delivery.domain.model import Response
from services.delivery.settings import DeliverySettings
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Forbidden
from shared.contracts.webhooks import AttemptDue, CreateWebhook
from shared.messaging.commands import CommandContext
from tests.unit.delivery_fakes import FakeAttempts, FakeDeliveries, FakeEndpoints, FakeReceivers, FakeResolver


class Clock:
    def __init__(self):
        self.now = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


def make_deps(clock, **settings):
    values = {"webhook_retry_delays_seconds": "1,2", "webhook_disable_after_seconds": "100", **settings}
    notified: list[str] = []
    deps = bootstrap.build(DeliverySettings(**values), FakeEndpoints(), FakeDeliveries(), FakeAttempts(),
                           FakeReceivers(), FakeResolver({"hooks.example.com": ["93.184.216.34"],
                                                          "inside.example.com": ["10.0.0.7"]}),
                           notified.append, clock)
    return deps, notified


@pytest.fixture
def deps(clock):
    return make_deps(clock)[0]


def ctx(workspace: str = "acme", command_id: str = "cmd-1") -> CommandContext:
    return CommandContext(command_id, workspace, "key_1", "corr-1")


async def endpoint(deps, workspace="acme", types=("issue.created", "issue.updated"), command_id="cmd-1"):
    created = await handlers.create_webhook(
        CreateWebhook(url="https://hooks.example.com/x", event_types=list(types)), ctx(workspace, command_id), deps)
    return created.webhook


def event(issue_id: str, version: int, event_type: str = "issue.created", workspace: str = "acme",
          message_id: str | None = None) -> Envelope:
    return Envelope(message_id=message_id or f"evt-{issue_id}-{version}-{event_type}", type=event_type,
                    workspace=workspace, correlation_id="corr", payload={"version": version, "issue": {"id": issue_id}})


async def attempt_all(deps) -> int:
    """Runs every attempt sent now (and the ones they cause); how many ran."""
    ran = 0
    while sent := deps.attempts.take():
        for due in sent:
            delivery = deps.deliveries.stored[due.delivery_id]
            await handlers.on_attempt_due(due, event("x", 0, workspace=delivery.workspace), deps)
            ran += 1
    return ran


async def test_an_event_goes_to_each_subscribed_endpoint_of_its_workspace_once(deps):
    mine = await endpoint(deps)
    await endpoint(deps, workspace="other", command_id="cmd-2")
    await endpoint(deps, types=("issue.deleted",), command_id="cmd-3")
    news = event("iss_1", 1)
    await handlers.on_event(None, news, deps)
    await handlers.on_event(None, news, deps)  # redelivered
    assert [d.endpoint_id for d in deps.deliveries.stored.values()] == [mine.id]
    assert deps.attempts.take() == [], "the first attempt is made by the fan-out itself, without a message"
    [(url, headers, body)] = deps.receivers.calls
    assert url == "https://hooks.example.com/x" and headers["webhook-id"] == next(iter(deps.deliveries.stored))
    assert b'"workspace":"acme"' in body


async def test_one_resources_deliveries_wait_for_the_one_before_and_others_do_not(deps):
    await endpoint(deps)
    deps.receivers.script.append(Response(500, 1.0))
    await handlers.on_event(None, event("iss_1", 2, "issue.updated"), deps)  # fails: pending, retried later
    await handlers.on_event(None, event("iss_1", 1), deps)  # arrives late, goes first
    await handlers.on_event(None, event("iss_2", 1), deps)
    statuses = {(d.resource_id, d.event_type): d.status for d in deps.deliveries.stored.values()}
    assert statuses == {("iss_1", "issue.updated"): "pending", ("iss_1", "issue.created"): "succeeded",
                        ("iss_2", "issue.created"): "succeeded"}, "the late older one is not held behind the newer"
    deps.receivers.script.append(Response(500, 1.0))
    await handlers.on_event(None, event("iss_3", 1), deps)
    await handlers.on_event(None, event("iss_3", 2, "issue.updated"), deps)
    blocked = [d for d in deps.deliveries.stored.values() if d.resource_id == "iss_3"]
    assert sorted(d.status for d in blocked) == ["blocked", "pending"]
    for due, _, _ in deps.attempts.later_sent:
        await handlers.on_attempt_due(due, event("x", 0), deps)
    await attempt_all(deps)
    assert {d.status for d in deps.deliveries.stored.values()} == {"succeeded"}
    bodies = [body for _, _, body in deps.receivers.calls if b"iss_3" in body]
    assert [b"issue.created" in body for body in bodies] == [True, True, False], "created (failed, retried) first"


async def test_a_failed_attempt_is_retried_later_then_the_delivery_fails_and_frees_its_lane(deps, clock):
    await endpoint(deps)
    deps.receivers.script.extend([Response(500, 2.0, snippet="down"), Response(None, 10.0, error="timed out"),
                                  Response(503, 1.0)])
    await handlers.on_event(None, event("iss_1", 1), deps)
    await handlers.on_event(None, event("iss_1", 2, "issue.updated"), deps)
    assert deps.attempts.take() == []
    [(second, level, seconds)] = deps.attempts.later_sent
    assert (second.attempt, level) == (2, 0) and 1 <= seconds <= 1.2
    first = AttemptDue(delivery_id=second.delivery_id, attempt=1)
    await handlers.on_attempt_due(first, event("x", 0), deps)  # a duplicate of the first attempt
    assert len(deps.receivers.calls) == 1
    await handlers.on_attempt_due(second, event("x", 0), deps)
    third = deps.attempts.later_sent[-1][0]
    assert (third.attempt, deps.attempts.later_sent[-1][1]) == (3, 1)
    await handlers.on_attempt_due(third, event("x", 0), deps)
    created = deps.deliveries.stored[first.delivery_id]
    assert created.status == "failed" and [a.response_status for a in created.attempts] == [500, None, 503]
    assert created.attempts[0].response_snippet == "down" and created.attempts[1].error == "timed out"
    assert await attempt_all(deps) == 1, "the next delivery of the resource goes once the first failed"
    assert {d.status for d in deps.deliveries.stored.values()} == {"failed", "succeeded"}


async def test_an_endpoint_failing_too_long_is_disabled_once_saying_so(clock):
    deps, notified = make_deps(clock, webhook_retry_delays_seconds="60,60,60")
    hook = await endpoint(deps)
    deps.receivers.script.extend([Response(500, 1.0)] * 10)
    await handlers.on_event(None, event("iss_1", 1), deps)
    await handlers.on_event(None, event("iss_2", 1), deps)
    for due in deps.attempts.take():
        await handlers.on_attempt_due(due, event("x", 0), deps)
    clock.advance(101)
    retries = [due for due, _, _ in deps.attempts.later_sent]
    for due in retries:
        await handlers.on_attempt_due(due, event("x", 0), deps)
    stored = deps.endpoints.stored[hook.id]
    assert stored.enabled is False and "failed for" in stored.disabled_reason
    assert notified == [hook.id] and [e.type for e in deps.endpoints.outbox] == ["webhook.endpoint_disabled"]
    assert deps.endpoints.outbox[0].payload["webhook"]["enabled"] is False
    assert {d.status for d in deps.deliveries.stored.values()} == {"failed"}


async def test_a_success_in_between_keeps_an_intermittent_endpoint_enabled(deps, clock):
    hook = await endpoint(deps)
    for n in range(4):
        deps.receivers.script.extend([Response(500, 1.0), Response(200, 1.0)])
        await handlers.on_event(None, event(f"iss_{n}", 1), deps)
        for due in deps.attempts.take():
            await handlers.on_attempt_due(due, event("x", 0), deps)
        for due, _, _ in deps.attempts.later_sent[-1:]:
            await handlers.on_attempt_due(due, event("x", 0), deps)
        clock.advance(60)
    assert deps.endpoints.stored[hook.id].enabled is True


async def test_a_lost_attempt_message_is_sent_again_by_the_sweep(deps, clock):
    await endpoint(deps)

    async def crash(*_args):
        raise RuntimeError("the service died before its first attempt was recorded")

    post, deps.receivers.post = deps.receivers.post, crash
    with pytest.raises(RuntimeError):
        await handlers.on_event(None, event("iss_1", 1), deps)
    deps.receivers.post = post
    await handlers.sweep(deps)
    assert deps.attempts.now_sent == []
    clock.advance(deps.grace.total_seconds() + 1)
    await handlers.sweep(deps)
    assert [due.attempt for due in deps.attempts.now_sent] == [1]
    await attempt_all(deps)
    assert {d.status for d in deps.deliveries.stored.values()} == {"succeeded"}


async def test_an_attempt_for_a_gone_delivery_is_dropped(deps):
    await handlers.on_attempt_due(AttemptDue(delivery_id="msg_gone", attempt=1), event("x", 0), deps)
    assert deps.receivers.calls == []


async def test_a_private_url_is_forbidden_unless_allowed(clock):
    deps = make_deps(clock)[0]
    for url in ("https://inside.example.com/x", "http://127.0.0.1:8080/", "http://[::1]/"):
        with pytest.raises(Forbidden, match="WEBHOOK_ALLOW_PRIVATE"):
            await handlers.create_webhook(CreateWebhook(url=url, event_types=["issue.created"]), ctx(), deps)
    unknown = await handlers.create_webhook(
        CreateWebhook(url="https://not-yet.example.com/", event_types=["issue.created"]), ctx(), deps)
    assert unknown.webhook.url == "https://not-yet.example.com/"
    allowing = make_deps(clock, webhook_allow_private="true")[0]
    created = await handlers.create_webhook(
        CreateWebhook(url="http://127.0.0.1:8080/", event_types=["issue.created"]), ctx(), allowing)
    assert created.webhook.secret.startswith("whsec_")


async def test_the_fan_out_attempts_every_endpoint_at_once_and_a_failing_one_is_retried_alone(deps):
    await endpoint(deps)
    await endpoint(deps, command_id="cmd-2")
    deps.receivers.script.append(Response(500, 1.0))
    await handlers.on_event(None, event("iss_1", 1), deps)
    assert len(deps.receivers.calls) == 2 and deps.attempts.take() == []
    assert sorted(d.status for d in deps.deliveries.stored.values()) == ["pending", "succeeded"]
    [(retry, level, _)] = deps.attempts.later_sent
    assert (retry.attempt, level) == (2, 0)
    await handlers.on_attempt_due(retry, event("x", 0), deps)
    assert {d.status for d in deps.deliveries.stored.values()} == {"succeeded"}
