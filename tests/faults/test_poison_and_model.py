"""Poison messages of every kind, and a model endpoint that misbehaves in every way."""

import aio_pika
import pytest

from deploy.local.demo_model import Fault
from shared.messaging.topology import Topology
from tests.conftest import model_settings, running_stack, workspace_api
from tests.e2e.test_shadow_tests import a_trace, finished, marker, setup, start_test
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults


async def dead_letters(channel, queue: str) -> dict[str, dict]:
    """The dead-lettered messages of a queue, by id, with why they died (the first `x-death`)."""
    dead = await channel.get_queue(Topology.dead_letter_queue(queue), ensure=False)
    found = {}
    while (message := await dead.get(fail=False)) is not None:
        found[message.message_id] = message.headers["x-death"][0]
        await message.ack()
    return found


async def test_poison_events_and_work_land_in_dead_letter_queues_and_consumers_go_on(stack, api, amqp):
    """Breaks: events and work items that are not JSON, or do not match their contract, sent to
    every subscription. Proves: each lands in its queue's dead-letter queue at once, and every
    consumer keeps consuming."""
    topology = Topology(stack.namespace)
    connection = await aio_pika.connect(amqp)
    channel = await connection.channel()
    cases = {
        ("fixes", "fix.updated"): topology.subscription_queue("issues", "fix-changes"),
        ("issues", "issue.deleted"): topology.subscription_queue("fixes", "issue-deletions"),
        ("traces", "traces.ingested"): topology.subscription_queue("issues", "trace-ingestions"),
        ("shadow_runner", "shadow_test.completed"): topology.subscription_queue("fixes", "shadow-test-changes"),
        ("shadow_runner", "replay.requested"): topology.subscription_queue("shadow_runner", "replays"),
    }
    sent: dict[str, set[str]] = {}
    work = {"replay.requested"}
    for (source, routing_key), queue in cases.items():
        exchange_of = topology.work_exchange if routing_key in work else topology.events_exchange
        exchange = await channel.get_exchange(exchange_of(source))
        ids = {f"poison-{routing_key}-{n}" for n in range(2)}
        bodies = [b"not json", b'{"type": "%s", "workspace": "w", "correlationId": "c", "payload": {"x": 1}}' %
                  routing_key.encode()]
        for message_id, body in zip(sorted(ids), bodies, strict=True):
            await exchange.publish(aio_pika.Message(body, message_id=message_id), routing_key=routing_key)
        sent[queue] = ids

    found: dict[str, dict[str, dict]] = {queue: {} for queue in sent}

    async def all_dead_lettered():
        for queue in sent:
            found[queue].update(await dead_letters(channel, queue))
        return all(set(found[queue]) >= sent[queue] for queue in sent)

    await eventually(all_dead_lettered, 20, "every poison message in its dead-letter queue")
    for queue, ids in sent.items():
        for message_id in ids:
            death = found[queue][message_id]
            assert (death["reason"], death["count"]) == ("rejected", 1), (queue, death)
    await connection.close()

    m = marker()
    traces = [a_trace(m, 0)]
    issue, fix = await setup(api, traces)
    await api.issue_when(issue["id"], lambda i: i["metadata"]["firstSeenAt"], "trace ingestions to flow still")
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    assert test["status"] == "completed"

    async def fix_knows():
        return (await api.get(f"/api/fixes/{fix['id']}")).data["shadowTests"][0]["status"] == "completed"

    await eventually(fix_knows, 15, "shadow test changes to flow still")
    await api.issue_when(issue["id"], lambda i: i["status"] == "testing", "fix changes to flow still")
    other = await api.create_issue()
    other_fix = await api.create_fix(other["id"])
    await api.delete(f"/api/v2/issues/{other['id']}")

    async def detached():
        return (await api.get(f"/api/fixes/{other_fix['id']}")).data["issueId"] is None

    await eventually(detached, 15, "issue deletions to flow still")


@pytest.fixture
async def impatient_stack(amqp, mongo, log_dir, mongo_client, namespaces, fake_model):
    settings = {**model_settings(fake_model), "model_timeout_seconds": "0.5", "model_max_attempts": "2"}
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, **settings) as running:
        yield running


async def test_a_model_that_rate_limits_fails_babbles_hangs_or_hangs_up(impatient_stack, mongo_client, http,
                                                                        fake_model):
    """Breaks: the replay model, per trace: a 429 then an answer; 500s; garbage; silence past the
    call timeout; a dropped connection. Proves: the first is retried to a verdict, the others
    become per-trace errors naming the cause after the retries, and the test completes with
    every trace counted once."""
    api = await workspace_api(impatient_stack, mongo_client, http)
    m = marker()
    traces = [a_trace(m, n) for n in range(5)]
    plans = {
        0: [Fault(status=429, retry_after="0")],
        1: [Fault(status=500)] * 2,
        2: [Fault(body="<html>gateway error</html>")] * 2,
        3: [Fault(delay=2.0)] * 2,
        4: [Fault(drop=True)] * 2,
    }
    for n, faults in plans.items():
        fake_model.fail(f"({m}_{n})", *faults)
    for trace in traces:
        trace["input"][0]["content"] += f" ({trace['id'].removeprefix('tr_')})"
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces))["id"], timeout=60)

    results = {r["traceId"]: r for r in test["traceResults"]}
    assert sorted(results) == sorted(t["id"] for t in traces)
    assert results[f"tr_{m}_0"]["verdict"] == "improved"
    expected_causes = {1: "HTTP 500", 2: "not a chat completion", 3: "no answer within 0.5s", 4: "connection failed"}
    for n, cause in expected_causes.items():
        result = results[f"tr_{m}_{n}"]
        assert result["verdict"] == "errored" and cause in result["explanation"], result
        assert "after 2 attempts" in result["explanation"]
    assert test["results"]["errored"] == 4 and test["results"]["improved"] == 1
