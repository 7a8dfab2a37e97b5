"""What operators probe and scrape: health, readiness and Prometheus metrics of every process."""

import asyncio
import signal
import subprocess
import time

import aiohttp
import pytest

from deploy.local.processes import SERVICES, free_port, service
from tests.e2e.test_shadow_tests import a_trace, finished, marker, setup, start_test
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def get_text(http, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def test_every_service_answers_its_probes(stack, http):
    for name in SERVICES:
        base = f"http://127.0.0.1:{stack.ops_ports[name]}"
        assert (await get_text(http, f"{base}/healthz"))[0] == 200
        status, body = await get_text(http, f"{base}/readyz")
        assert status == 200 and '"broker": "ok"' in body and '"store": "ok"' in body


async def test_metrics_count_requests_messages_replays_and_model_calls(api, stack, http):
    m = marker()
    traces = [a_trace(m, 0)]
    _, fix = await setup(api, traces)
    await finished(api, (await start_test(api, fix, traces))["id"])

    _, gateway = await get_text(http, f"{stack.base_url}/metrics")
    assert 'http_requests_total{method="POST",route="/api/shadow-tests",status="201"}' in gateway
    assert 'http_request_duration_seconds_count{method="GET",route="/api/shadow-tests/{shadow_test_id}"}' in gateway

    _, issues = await get_text(http, f"http://127.0.0.1:{stack.ops_ports['issues']}/metrics")
    assert f'messages_handled_total{{kind="command",outcome="ok",queue="{stack.namespace}.issues.commands"}}' in issues
    assert f'queue="{stack.namespace}.issues.fix-changes"' in issues
    assert 'events_published_total{type="issue.created"}' in issues

    _, runner = await get_text(http, f"http://127.0.0.1:{stack.ops_ports['shadow_runner']}/metrics")
    assert 'replays_total{verdict="improved"}' in runner
    assert 'model_calls_total{model="replay",outcome="ok"}' in runner
    assert 'model_calls_total{model="judge",outcome="ok"}' in runner
    assert "model_call_seconds_bucket" in runner and "replay_seconds_count" in runner


@pytest.mark.parametrize("name", ["issues", "gateway"])
async def test_a_process_whose_store_is_unreachable_is_alive_not_ready_and_stops_when_asked(name, http, amqp):
    port = free_port()
    env = {"MONGODB_URL": f"mongodb://127.0.0.1:{free_port()}/", "AMQP_URL": amqp, "BUS_NAMESPACE": "t-unreachable",
           "STORE_TIMEOUT_SECONDS": "0.5", "LOG_FORMAT": "json",
           ("GATEWAY_PORT" if name == "gateway" else "OPS_PORT"): str(port)}
    process = service(name, env, output=subprocess.DEVNULL).start()
    try:
        async def alive():
            try:
                return (await get_text(http, f"http://127.0.0.1:{port}/healthz"))[0] == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(alive, 20, f"{name} to answer /healthz")
        assert (await get_text(http, f"http://127.0.0.1:{port}/readyz"))[0] == 503
        if name == "gateway":
            status, body = await get_text(http, f"http://127.0.0.1:{port}/api/v2/issues")
            assert status == 503 and "starting" in body
        started = time.monotonic()
        process.popen.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.popen.wait, 10)
        assert time.monotonic() - started < 5
    finally:
        process.stop()
