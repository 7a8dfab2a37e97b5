"""Failing traces ingested through the API become issues by themselves (the clustering service)."""

import time
from collections import Counter

import aio_pika
import pytest

from deploy.local.demo_model import LABEL_MODEL
from shared.contracts.envelope import Envelope
from shared.messaging.topology import Topology
from tests.conftest import running_stack, workspace_api
from tests.support.failure_modes import MODES, batch, mode_of, mode_traces
from tests.support.metrics import sample
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def all_issues(api) -> list[dict]:
    summaries = (await api.get("/api/v2/issues", params={"limit": "100"})).data
    return [(await api.get(f"/api/v2/issues/{issue['id']}")).data for issue in summaries]


async def clustered(api) -> list[dict]:
    """The workspace's issues: in these tests only clustering makes any."""
    return await all_issues(api)


async def test_200_failing_traces_of_a_few_modes_show_up_as_issues_within_10_seconds(api):
    traces = batch(40, "e2e")
    started = time.monotonic()
    response = await api.post("/api/v2/traces", json={"traces": traces})
    assert response.status == 201 and len(response.data["created"]) == 200

    async def most_of_every_mode_in_issues():
        issues = await clustered(api)
        in_issues = Counter(mode_of(t) for issue in issues for t in issue["traceIds"])
        return issues if all(in_issues[mode] >= 20 for mode in MODES) else None

    issues = await eventually(most_of_every_mode_in_issues, 10, "half of every failure mode in issues", interval=0.3)
    assert time.monotonic() - started < 10
    ingested = {trace["id"] for trace in traces}
    for issue in issues:
        assert issue["source"] == "clustering" and 0 <= issue["metadata"]["clusterConfidence"] <= 1
        assert set(issue["traceIds"]) <= ingested and len({mode_of(t) for t in issue["traceIds"]}) == 1, issue
        assert issue["agentId"] in {"billing-agent", "travel-assistant", "support-bot"} and issue["title"]


async def traces_clustered(stack, http) -> float:
    """How many `traces.ingested` events the clustering service has handled (any workspace)."""
    return await sample(http, f"http://127.0.0.1:{stack.ops_ports['clustering']}/metrics", "messages_handled_total",
                        queue=f"{stack.namespace}.clustering.trace-ingestions", kind="event", outcome="ok")


async def test_with_clustering_disabled_failing_traces_make_no_issue(api, stack, http):
    response = await api.patch("/api/v2/clustering-settings", json={"enabled": False})
    assert response.status == 200 and response.data["enabled"] is False
    handled = await traces_clustered(stack, http)
    await api.post("/api/v2/traces", json={"traces": batch(8, "off")})

    async def event_handled():
        return await traces_clustered(stack, http) > handled

    await eventually(event_handled, 10, "the clustering service to handle the traces")
    assert await all_issues(api) == []

    await api.patch("/api/v2/clustering-settings", json={"enabled": True})
    await api.post("/api/v2/traces", json={"traces": mode_traces("seatmap_timeout", 12, "on")})
    issues = await eventually(lambda: all_issues(api), 10, "the traces sent with clustering on in an issue")
    assert all(not t.startswith("off_") for issue in issues for t in issue["traceIds"])


async def test_clustering_settings_are_read_changed_conditionally_and_validated(api):
    first = await api.get("/api/v2/clustering-settings")
    assert first.status == 200 and first.data == {"enabled": True, "similarityThreshold": 0.35,
                                                  "minClusterSize": 4, "feedbackThreshold": 0.5}
    changed = await api.patch("/api/v2/clustering-settings", json={"minClusterSize": 6},
                              headers={"If-Match": first.headers["ETag"]})
    assert changed.status == 200 and changed.data["minClusterSize"] == 6 and changed.headers["ETag"] != first.headers[
        "ETag"]
    stale = await api.patch("/api/v2/clustering-settings", json={"minClusterSize": 5},
                            headers={"If-Match": first.headers["ETag"]})
    assert stale.status == 412 and stale.error["code"] == "PRECONDITION_FAILED"
    for bad in ({"similarityThreshold": 0}, {"minClusterSize": 1}, {"feedbackThreshold": 2}, {}, {"enabled": None},
                {"other": 1}):
        response = await api.patch("/api/v2/clustering-settings", json=bad)
        assert response.status == 400 and response.error["code"] == "VALIDATION_ERROR", (bad, response.body)
    assert (await api.get("/api/v2/clustering-settings")).data["minClusterSize"] == 6


async def test_a_redelivered_traces_ingested_event_creates_no_second_issue(api, stack, http, workspace):
    connection = await aio_pika.connect_robust(stack.amqp_url)
    try:
        channel = await connection.channel()
        announced = await channel.declare_queue(exclusive=True)
        exchange = Topology(stack.namespace).events_exchange("traces")
        await announced.bind(exchange, routing_key="traces.ingested")
        await api.post("/api/v2/traces", json={"traces": mode_traces("invoice_tool_error", 12, "redelivered")})
        first = await eventually(lambda: all_issues(api), 10, "the issue of the failing traces")

        async def our_event():
            while (message := await announced.get(fail=False)) is not None:
                await message.ack()
                if Envelope.from_bytes(message.body).workspace == workspace:
                    return message
            return None

        message = await eventually(our_event, 10, "the traces.ingested event of the workspace")
        handled = await traces_clustered(stack, http)
        again = aio_pika.Message(message.body, message_id=message.message_id, type=message.type,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT, headers=message.headers)
        await (await channel.get_exchange(exchange, ensure=False)).publish(again, routing_key="traces.ingested")

        async def handled_again():
            return await traces_clustered(stack, http) > handled

        await eventually(handled_again, 10, "the clustering service to handle the event again")
        assert [issue["id"] for issue in await all_issues(api)] == [issue["id"] for issue in first]
        assert sorted(first[0]["traceIds"]) == sorted(f"redelivered_invoice_tool_error_{n}" for n in range(12))
    finally:
        await connection.close()


async def test_later_traces_of_a_known_mode_join_its_issue(api):
    await api.post("/api/v2/traces", json={"traces": mode_traces("seatmap_timeout", 12, "known")})
    [issue] = await eventually(lambda: all_issues(api), 10, "the issue of the failing traces")
    later = mode_traces("seatmap_timeout", 3, "later")
    await api.post("/api/v2/traces", json={"traces": later})

    joined = await api.issue_when(issue["id"], lambda i: i["traceCount"] == 15, "the later traces in the issue")
    assert {t["id"] for t in later} <= set(joined["traceIds"]) and joined["status"] == "open"
    assert [i["id"] for i in await all_issues(api)] == [issue["id"]]


async def test_with_a_label_model_configured_new_issues_are_named_by_it(
        amqp, mongo, log_dir, mongo_client, namespaces, fake_model, http):
    """`LABEL_MODEL_BASE_URL` and `LABEL_MODEL`: the demo model's `label-model` titles the issues
    clustering makes (over real HTTP), and the automatic description, with the computed facts,
    follows the model's."""
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, store_timeout_seconds="8",
                             label_model_base_url=fake_model.url, label_model=LABEL_MODEL) as named_stack:
        api = await workspace_api(named_stack, mongo_client, http)
        await api.post("/api/v2/traces", json={"traces": mode_traces("seatmap_timeout", 8, "named")})
        issues = await eventually(lambda: all_issues(api), 20, "an issue made of the traces")
    assert [issue["title"] for issue in issues] == ["Agent fails on " + issues[0]["tags"][0]]
    told, automatic = issues[0]["description"].split("\n\n")
    assert told.startswith("Summary by the label model: Named by the demo label model")
    assert automatic.startswith("8 failing traces of this agent fail alike")
