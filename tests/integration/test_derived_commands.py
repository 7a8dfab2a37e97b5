"""A command an event handler sends under a message id derived from the event: the real issues
service, over the real broker, creates the issue once however often the event is handled."""

import aio_pika
import pytest

from deploy.local.stack import new_stack
from shared.contracts.envelope import Envelope
from shared.contracts.issues import CreateIssue, ListIssues
from shared.messaging.asking import ask, send
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import RpcClient
from shared.messaging.topology import Topology


@pytest.fixture(scope="module")
async def issues_service(amqp, mongo, log_dir, mongo_client, namespaces):
    stack = new_stack(amqp, mongo, log_dir)
    namespaces.add(stack.namespace)
    try:
        stack.start("issues")
        yield stack
    finally:
        stack.stop_all()
        await mongo_client.drop_database(stack.database)


@pytest.fixture
async def rpc(issues_service):
    connection = await aio_pika.connect_robust(issues_service.amqp_url)
    client = RpcClient(connection, Topology(issues_service.namespace), start_margin=1.0)
    await client.start()
    yield client
    await connection.close()


def handled_event(workspace: str, message_id: str) -> CommandContext:
    """The context of a `traces.ingested` event being handled, as an event handler gets it."""
    event = Envelope(message_id=message_id, type="traces.ingested", workspace=workspace,
                     correlation_id=f"corr-{message_id}", payload={})
    return CommandContext.of(event)


OPEN_ISSUE = CreateIssue(title="Cluster of failing traces", description="d", agent_id="agent-1", severity="high")


async def issue_ids(rpc, workspace: str) -> list[str]:
    page = await ask(rpc, ListIssues(), handled_event(workspace, "listing"), timeout=10)
    return sorted(issue["id"] for issue in page["items"])


async def test_the_same_derived_command_sent_twice_creates_one_issue(rpc):
    ctx = handled_event("ws-derived-once", "evt-1")

    first = await send(rpc, OPEN_ISSUE, ctx, timeout=10, purpose="open-issue")
    redelivered = await send(rpc, OPEN_ISSUE, ctx, timeout=10, purpose="open-issue")

    assert first["replayed"] is False and redelivered["replayed"] is True
    assert redelivered["issue"] == first["issue"]
    assert await issue_ids(rpc, "ws-derived-once") == [first["issue"]["id"]]


async def test_another_event_or_another_purpose_is_another_command(rpc):
    workspace = "ws-derived-distinct"
    created = [
        await send(rpc, OPEN_ISSUE, handled_event(workspace, "evt-a"), timeout=10, purpose="open-issue"),
        await send(rpc, OPEN_ISSUE, handled_event(workspace, "evt-b"), timeout=10, purpose="open-issue"),
        await send(rpc, OPEN_ISSUE, handled_event(workspace, "evt-a"), timeout=10, purpose="open-second-issue"),
    ]
    assert [answer["replayed"] for answer in created] == [False, False, False]
    assert await issue_ids(rpc, workspace) == sorted(answer["issue"]["id"] for answer in created)
