"""Breaking the broker and the store under load: nothing a client was told is stored gets lost
or doubled, everything else is a clear error, and every process recovers on its own."""

import asyncio
import os
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import running_stack, workspace_api
from tests.support.infrastructure import broker_answers, rabbitmq_node, rabbitmqctl
from tests.support.output import BROKER_RESTORED, records
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

CLEAR_ERRORS = {"SERVICE_UNAVAILABLE", "TIMEOUT"}


async def all_issues(api) -> list[dict]:
    found, page = [], 1
    while True:
        response = await api.get("/api/v2/issues", params={"limit": 100, "page": page})
        found += response.data
        if not response.body["pagination"]["hasMore"]:
            return found
        page += 1


@contextmanager
def broker_restarted(url: str):
    """Stops the broker's app (`rabbitmqctl -n RABBITMQ_NODENAME stop_app`), hands over while it
    is down, and starts it again however the block ends: the broker is left as it was found,
    answering AMQP (waited for, bounded) before the next test uses it."""
    rabbitmqctl("stop_app", timeout=60)
    try:
        yield
    finally:
        rabbitmqctl("start_app", timeout=120)
        asyncio.run(broker_answers(url, 60, "the broker to answer AMQP after start_app"))


def restart_broker(url: str) -> None:
    with broker_restarted(url):
        pass


@pytest.mark.skipif(rabbitmq_node() is None and not os.environ.get("REQUIRE_BROKER_FAULTS"),
                    reason="restarts the broker with rabbitmqctl: set RABBITMQ_NODENAME to the node behind AMQP_URL")
async def test_restarting_rabbitmq_under_a_stream_of_creates(stack, api, amqp):
    """Breaks: the broker, stopped and started again while four clients create issues.
    Proves: every 201 is stored exactly once, every other answer is a clear 503/504, and the
    services consume again without being restarted."""
    pids = {name: process.popen.pid for name, process in stack.processes.items()}
    answers: list[tuple[str, int, dict]] = []
    restarted = asyncio.Event()
    recovered_streak = {"n": 0}

    async def client(worker: int) -> None:
        n = 0
        while not (restarted.is_set() and recovered_streak["n"] >= 20):
            title = f"stream {worker}-{n}"
            n += 1
            response = await api.post("/api/v2/issues", json={"title": title, "description": "d", "agentId": "a",
                                                               "severity": "low"})
            answers.append((title, response.status, response.body))
            recovered_streak["n"] = recovered_streak["n"] + 1 if restarted.is_set() and response.status == 201 else 0

    async def breaker() -> None:
        await eventually(lambda: len(answers) >= 20, 30, "the stream to start")
        await asyncio.to_thread(restart_broker, amqp)
        restarted.set()

    await asyncio.wait_for(asyncio.gather(breaker(), *(client(w) for w in range(4))), timeout=180)

    def not_yet_restored() -> list[str]:
        return [name for name in stack.processes if not records(stack.log_lines(name), event=BROKER_RESTORED,
                                                                  level="info")]

    # each process backs off on its own (jittered, at most 30 s): the quiet ones may come back later
    await eventually(lambda: not not_yet_restored(), 45, "every process to reconnect")
    created = {title: body["data"]["id"] for title, status, body in answers if status == 201}
    failed = [(status, body) for _, status, body in answers if status != 201]
    assert all(body["success"] is False and body["error"]["code"] in CLEAR_ERRORS for _, body in failed), failed
    stored = await all_issues(api)
    titles = [issue["title"] for issue in stored]
    assert len(titles) == len(set(titles)), "an issue was stored twice"
    by_title = {issue["title"]: issue["id"] for issue in stored}
    assert all(by_title.get(title) == issue_id for title, issue_id in created.items()), "a 201 was lost"
    refused = {title for title, status, body in answers if status == 503}
    assert not refused & set(by_title), "a 503 means nothing was done, yet it was stored"
    unanswered = sum(1 for status, body in failed if body["error"]["code"] == "TIMEOUT")
    assert len(stored) - len(created) <= unanswered, "only a request that timed out may have been stored"
    assert {name: process.popen.pid for name, process in stack.processes.items()} == pids
    assert all(process.running for process in stack.processes.values())

    fix = await api.create_fix(created[next(iter(created))])
    await api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})
    await api.issue_when(fix["issueId"], lambda i: i["status"] == "proposed_fix", "events to flow again", 30)


def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{credentials}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


async def test_an_unreachable_store_gives_clear_503s_then_recovers(mongo, amqp, log_dir, mongo_client, http,
                                                                   namespaces):
    """Breaks: every connection to MongoDB, for all processes at once.
    Proves: requests get a clear 503 within the store timeout (nothing half-done), readiness
    says so, and once MongoDB is back everything works again without a restart."""
    target = urlsplit(mongo)
    with TcpProxy(target.hostname, target.port or 27017) as proxy:
        async with running_stack(amqp, via(mongo, proxy.port), log_dir, mongo_client, namespaces) as stack:
            api = await workspace_api(stack, mongo_client, http)
            before = await api.create_issue(title="before")
            pids = {name: process.popen.pid for name, process in stack.processes.items()}

            proxy.cut()
            during = {"title": "during", "description": "d", "agentId": "a", "severity": "low"}
            for method, path, body in (("POST", "/api/v2/issues", during), ("GET", f"/api/v2/issues/{before['id']}",
                                       None), ("GET", "/api/v2/issues", None)):
                response = await api.request(method, path, json=body)
                assert response.status == 503, response.body
                assert response.error["code"] == "SERVICE_UNAVAILABLE"
                assert "unreachable" in response.error["message"]
            assert (await api.get("/readyz", key=None)).status == 503
            for name, port in stack.ops_ports.items():
                async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    assert ready.status == 503 and '"store": "unavailable' in await ready.text(), name

            proxy.restore()

            async def serving():
                return (await api.get("/api/v2/issues")).status == 200

            await eventually(serving, 60, "the services to reach the store again", interval=0.5)
            after = await api.create_issue(title="after")
            titles = sorted(issue["title"] for issue in (await api.get("/api/v2/issues")).data)
            assert titles == ["after", "before"]
            fix = await api.create_fix(after["id"])
            await api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})
            await api.issue_when(after["id"], lambda i: i["status"] == "proposed_fix", "events to flow again", 30)
            assert {name: process.popen.pid for name, process in stack.processes.items()} == pids
