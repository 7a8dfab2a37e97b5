"""The gateway as `bootstrap.build` wires it, over in-memory adapters."""

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.rpc import code_pb2, status_pb2

from services.gateway import bootstrap
from services.gateway.domain.api_keys import issue_key
from services.gateway.entrypoints.http.keys import CONNECTED
from services.gateway.settings import GatewaySettings
from shared.contracts.envelope import Reply
from tests.support.waiting import eventually
from tests.unit.gateway_fakes import AnsweringChannel, FakeAdapters, InMemoryKeyStore

KEY = issue_key("default").secret
ISSUE = {"id": "iss_1", "title": "t"}


def answer(service, envelope):
    return Reply(ok=True, data={"issue": ISSUE, "version": 3})


@pytest.fixture
def adapters():
    return FakeAdapters(InMemoryKeyStore(), AnsweringChannel(answer))


async def serving(app) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_request_is_authenticated_against_the_key_store_and_sent_as_a_command(adapters):
    client = await serving(bootstrap.build(GatewaySettings(init_api_key=KEY), adapters))
    try:
        await eventually(lambda: client.app[CONNECTED].bus, 5, "the gateway to start")
        ready = await client.get("/readyz")
        assert ready.status == 200
        response = await client.get("/api/v2/issues/iss_1", headers={"Authorization": f"Bearer {KEY}",
                                                                    "X-Request-Id": "req-1"})
        assert response.status == 200 and response.headers["ETag"] == '"3"'
        assert (await response.json())["data"] == ISSUE
        [(service, envelope, _timeout)] = adapters.channel.sent
        assert (service, envelope.type, envelope.workspace, envelope.correlation_id) == (
            "issues", "issues.get_issue", "default", "req-1")
        refused = await client.get("/api/v2/issues/iss_1")
        assert refused.status == 401 and len(adapters.channel.sent) == 1
    finally:
        await client.close()
    assert adapters.closed


async def test_a_start_up_that_fails_is_recorded_and_stops_the_gateway():
    adapters = FakeAdapters(InMemoryKeyStore(), AnsweringChannel(answer), failure=RuntimeError("no store"))
    stopped = []
    app = bootstrap.build(GatewaySettings(), adapters, stop=lambda: stopped.append(True))
    client = await serving(app)
    try:
        await eventually(lambda: stopped, 5, "the gateway to be stopped")
        assert str(app[CONNECTED].failure) == "no store" and app[CONNECTED].bus is None
        response = await client.get("/api/v2/issues", headers={"Authorization": f"Bearer {KEY}"})
        assert response.status == 503
    finally:
        await client.close()


async def test_otlp_exports_refused_for_load_get_a_status_body_and_retry_after():
    def traces_unavailable(service, envelope):
        return Reply(ok=False, error={"code": "SERVICE_UNAVAILABLE", "message": "the store is down"})

    adapters = FakeAdapters(InMemoryKeyStore(), AnsweringChannel(traces_unavailable))
    client = await serving(bootstrap.build(GatewaySettings(init_api_key=KEY, rate_limit_burst=1,
                                                           rate_limit_per_second=0.01), adapters))
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-protobuf"}
    try:
        await eventually(lambda: client.app[CONNECTED].bus, 5, "the gateway to start")
        unavailable = await client.post("/v1/traces", data=b"", headers=headers)
        assert unavailable.status == 503 and unavailable.headers["Retry-After"]
        assert status_pb2.Status.FromString(await unavailable.read()).message == "the store is down"
        [(service, envelope, _timeout)] = adapters.channel.sent
        assert (service, envelope.type) == ("traces", "traces.ingest_otlp")
        limited = await client.post("/api/otlp/v1/traces", data=b"", headers=headers)
        assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
        status = status_pb2.Status.FromString(await limited.read())
        assert status.code == code_pb2.RESOURCE_EXHAUSTED and "Too many requests" in status.message
    finally:
        await client.close()
