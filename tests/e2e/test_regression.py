"""An issue whose failure comes back after its fix closed it reopens, through the running stack:
the clustering service's part (sending AttachTraces over the bus) played by the test."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts.envelope import Envelope
from shared.contracts.errors import RemoteError
from shared.contracts.issues import AttachTraces, CreateIssue
from shared.messaging.asking import send
from shared.messaging.commands import CommandContext
from shared.messaging.topology import Topology
from tests.support.bus import rpc_client
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bus(stack):
    """An RPC client, as the clustering service has one, and a queue of the issues' regressions."""
    async with rpc_client(stack) as (rpc, connection):
        channel = await connection.channel()
        regressions = await channel.declare_queue(exclusive=True)
        await regressions.bind(Topology(stack.namespace).events_exchange("issues"), routing_key="issue.regressed")
        yield rpc, regressions


def ingestion_handled(workspace: str, message_id: str) -> CommandContext:
    """The context of the `traces.ingested` event the clustering service would be handling."""
    return CommandContext.of(Envelope(message_id=message_id, type="traces.ingested", workspace=workspace,
                                      correlation_id=f"corr-{message_id}", payload={}))


async def move(api, fix_id: str, *statuses: str) -> None:
    for status in statuses:
        response = await api.patch(f"/api/fixes/{fix_id}", json={"status": status})
        assert response.status == 200, response.body


async def regressions_of(queue, issue_id: str) -> list[Envelope]:
    found = []
    while (message := await queue.get(fail=False)) is not None:
        await message.ack()
        envelope = Envelope.from_bytes(message.body)
        if envelope.payload["issue"]["id"] == issue_id:
            found.append(envelope)
    return found


async def the_one_regression(queue, issue_id: str) -> Envelope:
    """Waits for the issue's `issue.regressed` event; one, of those come by then."""
    found: list[Envelope] = []

    async def regressed():
        found.extend(await regressions_of(queue, issue_id))
        return found

    await eventually(regressed, 10, "the issue.regressed event")
    [event] = found
    return event


async def test_a_closed_issue_reopens_when_its_failure_comes_back(api, bus, workspace):
    rpc, regressions = bus
    issue = await api.create_issue(traceIds=["tr_before_1", "tr_before_2"])
    fix = await api.create_fix(issue["id"])
    await move(api, fix["id"], "proposed", "testing", "applied")
    await api.issue_when(issue["id"], lambda i: i["status"] == "closed", "the applied fix to close the issue")

    command = AttachTraces(issue_id=issue["id"], trace_ids=["tr_before_1", "tr_back_1", "tr_back_2"])
    ctx = ingestion_handled(workspace, "evt-failure-back")
    first = await send(rpc, command, ctx, timeout=10, purpose="attach")
    redelivered = await send(rpc, command, ctx, timeout=10, purpose="attach")

    assert (first["reopened"], first["issue"]["status"], first["issue"]["traceCount"]) == (True, "open", 4)
    assert redelivered == first
    reopened = (await api.get(f"/api/v2/issues/{issue['id']}")).data
    assert reopened["status"] == "open"
    assert reopened["traceIds"] == ["tr_before_1", "tr_before_2", "tr_back_1", "tr_back_2"]
    assert reopened["metadata"]["regressionCount"] == 1
    assert reopened["metadata"]["regressedAt"] is not None
    assert reopened["source"] == "manual"
    event = await the_one_regression(regressions, issue["id"])
    assert event.workspace == event.payload["workspace"] == workspace
    assert event.payload["closedByFixId"] == fix["id"]
    assert (event.payload["traceIds"], event.payload["regressionCount"]) == (["tr_back_1", "tr_back_2"], 1)

    await api.patch(f"/api/fixes/{fix['id']}", json={"description": "reworded after the regression"})
    await api.issue_when(issue["id"], lambda i: i["updatedAt"] > reopened["updatedAt"], "news of the reworded fix")
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).data["status"] == "open"


def failing_trace(trace_id: str, at: datetime) -> dict:
    return {"id": trace_id, "agentId": "agent_1", "timestamp": at.isoformat().replace("+00:00", "Z"),
            "model": {"name": "gpt-4o-mini"}, "input": [{"role": "user", "content": "Can I still get a refund?"}],
            "output": "Yes, within 60 days.", "feedback": {"score": 0.1, "comment": "old policy"}}


async def test_a_trace_seen_after_the_fix_was_applied_but_attached_before_the_news_regresses_the_issue(
        api, bus, workspace):
    rpc, regressions = bus
    assert (await api.patch("/api/v2/clustering-settings", json={"enabled": False})).status == 200
    after_the_fix = datetime.now(UTC) + timedelta(days=1)
    traces = [failing_trace("tr_seen_before", datetime.now(UTC) - timedelta(days=1)),
              failing_trace("tr_seen_after", after_the_fix)]
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201
    issue = await api.create_issue(traceIds=["tr_seen_before"])
    fix = await api.create_fix(issue["id"])
    await move(api, fix["id"], "proposed", "testing")

    attached = await send(rpc, AttachTraces(issue_id=issue["id"], trace_ids=["tr_seen_after"]),
                          ingestion_handled(workspace, "evt-seen-after"), timeout=10, purpose="attach")
    assert attached["reopened"] is False
    seen_after = after_the_fix.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    await api.issue_when(issue["id"], lambda i: i["metadata"]["lastSeenAt"] == seen_after, "the attached trace")
    await move(api, fix["id"], "applied")

    taken_in = await api.issue_when(issue["id"], lambda i: i["fixes"][0]["status"] == "applied", "the applied fix")
    assert taken_in["status"] == "open"
    assert taken_in["metadata"]["regressionCount"] == 1
    assert taken_in["metadata"]["regressedAt"] is not None
    event = await the_one_regression(regressions, issue["id"])
    assert (event.payload["closedByFixId"], event.payload["traceIds"]) == (fix["id"], ["tr_seen_after"])
    assert event.payload["regressionCount"] == 1

    await api.patch(f"/api/fixes/{fix['id']}", json={"description": "reworded after the regression"})
    await api.issue_when(issue["id"], lambda i: i["updatedAt"] > taken_in["updatedAt"], "news of the reworded fix")
    again = (await api.get(f"/api/v2/issues/{issue['id']}")).data
    assert (again["status"], again["metadata"]["regressionCount"]) == ("open", 1)


async def test_a_trace_attached_before_the_fix_news_and_heard_of_after_it_regresses_the_closed_issue(
        api, bus, workspace):
    rpc, regressions = bus
    assert (await api.patch("/api/v2/clustering-settings", json={"enabled": False})).status == 200
    issue = await api.create_issue(traceIds=["tr_known_late"])
    fix = await api.create_fix(issue["id"])
    await move(api, fix["id"], "proposed", "testing")
    await send(rpc, AttachTraces(issue_id=issue["id"], trace_ids=["tr_heard_late"]),
               ingestion_handled(workspace, "evt-heard-late"), timeout=10, purpose="attach")
    await move(api, fix["id"], "applied")
    await api.issue_when(issue["id"], lambda i: i["status"] == "closed", "the applied fix to close the issue")

    traces = [failing_trace("tr_heard_late", datetime.now(UTC) + timedelta(days=1))]
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201

    reopened = await api.issue_when(issue["id"], lambda i: i["status"] == "open", "the regression")
    assert reopened["metadata"]["regressionCount"] == 1
    event = await the_one_regression(regressions, issue["id"])
    assert (event.payload["closedByFixId"], event.payload["traceIds"]) == (fix["id"], ["tr_heard_late"])


async def test_attaching_to_an_issue_of_another_workspace_or_past_the_limit_is_refused(api, bus, workspace):
    rpc, _ = bus
    issue = await api.create_issue(traceIds=[f"tr_{n}" for n in range(9_999)])
    elsewhere = ingestion_handled("another-workspace", "evt-elsewhere")
    with pytest.raises(RemoteError, match="not found"):
        await send(rpc, AttachTraces(issue_id=issue["id"], trace_ids=["tr_x"]), elsewhere, timeout=10,
                   purpose="attach")
    too_many = AttachTraces(issue_id=issue["id"], trace_ids=["tr_x", "tr_y"])
    with pytest.raises(RemoteError, match="limit of 10000") as refused:
        await send(rpc, too_many, ingestion_handled(workspace, "evt-too-many"), timeout=10, purpose="attach")
    assert refused.value.code == "CONFLICT"
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).data["traceCount"] == 9_999


async def test_only_the_clustering_service_makes_clustered_issues(api, bus, workspace):
    rpc, _ = bus
    clustered = CreateIssue(title="Refunds quoted from the old policy", description="d", agent_id="agent_1",
                            severity="high", trace_ids=["tr_c1"], source="clustering", cluster_confidence=0.87)
    made = await send(rpc, clustered, ingestion_handled(workspace, "evt-cluster"), timeout=10, purpose="issue")
    manual = await api.create_issue()

    refused = await api.post("/api/v2/issues", json={"title": "t", "description": "d", "agentId": "agent_1",
                                                     "severity": "low", "source": "clustering",
                                                     "clusterConfidence": 0.9})
    assert refused.status == 400
    assert refused.body["success"] is False
    assert refused.body["error"]["code"] == "VALIDATION_ERROR"
    assert {detail["field"] for detail in refused.body["error"]["details"]} == {"source", "clusterConfidence"}

    detail = (await api.get(f"/api/v2/issues/{made['issue']['id']}")).data
    assert (detail["source"], detail["metadata"]["clusterConfidence"]) == ("clustering", 0.87)
    listed = {source: [i["id"] for i in (await api.get("/api/v2/issues", params={"source": source})).data]
              for source in ("clustering", "manual")}
    assert listed == {"clustering": [made["issue"]["id"]], "manual": [manual["id"]]}
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 2
