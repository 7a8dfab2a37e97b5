"""`make run` as a supervisor a user can trust: ready only when every process is, its children
gone with it however it ends, and `make api-key` writing where it reads. Each case runs the
real `python -m deploy.local.run` with every port moved and its own VAR_DIR."""

import asyncio
import os
import signal
import sys
import time
import uuid

import pytest

from deploy.local.processes import SERVICES, free_port
from tests.support.api import Api
from tests.support.infrastructure import delete_namespaces
from tests.support.local_run import BANNER, LocalRun
from tests.support.output import said
from tests.support.waiting import eventually

pytestmark = [pytest.mark.faults, pytest.mark.skipif(sys.platform != "linux", reason="finds processes in /proc")]


async def all_gone(run: LocalRun, within: float) -> None:
    await eventually(lambda: not run.children() and not run.ports_taken(), within,
                     "every child to end and every port to be free")


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
async def shared(tmp_path_factory, amqp, namespaces):
    """One `make run` with its own INIT_API_KEY, and a key `make api-key` made before it started."""
    run = LocalRun.moved(tmp_path_factory.mktemp("local-run"), amqp, INIT_API_KEY="thk_" + uuid.uuid4().hex)
    namespaces.add(run.namespace)
    try:
        made_before = run.api_key("early")
        assert made_before.returncode == 0, made_before.stderr
        run.env["EARLY_KEY"] = last_line(made_before.stdout)
        run.start()
        await run.ready()
        yield run
    finally:
        run.kill_everything()
        await delete_namespaces(amqp, {run.namespace})


async def test_an_init_api_key_is_announced_and_opens_the_api(shared, http):
    banner = await shared.ready()
    key = shared.env["INIT_API_KEY"]
    assert f"API key (from INIT_API_KEY): {key}" in banner
    assert f"console: http://localhost:{shared.env['GATEWAY_PORT']}/ (sign in with that key)" in banner
    said(banner, f"bus namespace {shared.namespace}", "stay on the broker",
         f"make clean-bus BUS_NAMESPACE={shared.namespace}")
    assert (await Api(http, shared.base_url, key).get("/api/v2/issues")).status == 200


async def test_a_key_made_before_make_run_started_works_once_it_runs(shared, http):
    assert (await Api(http, shared.base_url, shared.env["EARLY_KEY"]).get("/api/v2/issues")).status == 200


async def test_make_api_key_writes_into_the_running_stacks_moved_store(shared, http):
    made = await asyncio.to_thread(shared.api_key, "acme")
    assert made.returncode == 0, made.stderr
    api = Api(http, shared.base_url, last_line(made.stdout))
    created = await api.create_issue()
    assert (await api.get(f"/api/v2/issues/{created['id']}")).status == 200


async def test_make_api_key_finds_the_store_of_its_var_dir_not_what_answers_on_another_port(shared, http):
    """EMBEDDED_MONGO_PORT left pointing at something else: the key still lands in the store
    that serves VAR_DIR's data file, the one `make run` reads."""
    decoy = await asyncio.start_server(lambda _reader, writer: writer.close(), "127.0.0.1", free_port())
    decoy_port = decoy.sockets[0].getsockname()[1]
    try:
        made = await asyncio.to_thread(shared.api_key, "elsewhere", EMBEDDED_MONGO_PORT=str(decoy_port))
    finally:
        decoy.close()
    assert made.returncode == 0, made.stderr
    said(made.stderr, shared.env["EMBEDDED_MONGO_PORT"], "EMBEDDED_MONGO_PORT", str(decoy_port))
    assert (await Api(http, shared.base_url, last_line(made.stdout)).get("/api/v2/issues")).status == 200


async def test_a_killed_supervisor_takes_every_child_with_it(local_runs):
    """Breaks: `make run` SIGKILLed, so it cannot stop anything itself.
    Proves: the store, the demo model, the services and the gateway end anyway, and every port
    they held is free again within seconds."""
    run = local_runs().start()
    await run.ready()
    children = run.children()
    assert len(children) == len(SERVICES) + 3, children  # and the store, the demo model and the gateway
    run.process.signal(signal.SIGKILL)
    await all_gone(run, 5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_ends_everything_within_ten_seconds_even_with_a_hung_service(local_runs, signum):
    """Breaks: one service frozen (SIGSTOP), so it cannot stop when asked.
    Proves: SIGTERM or Ctrl-C still ends the supervisor and every child within 10 s."""
    run = local_runs().start()
    await run.ready()
    os.kill(run.child("issues"), signal.SIGSTOP)
    started = time.monotonic()
    run.process.signal(signum)
    code = await asyncio.to_thread(run.process.popen.wait, 10)
    await all_gone(run, max(0.1, 10 - (time.monotonic() - started)))
    assert code == 0
    said(run.output, signal.Signals(signum).name)
    said(run.output, f"make clean-bus BUS_NAMESPACE={run.namespace}")


async def test_ready_waits_for_every_service_not_just_the_gateway(local_runs, http):
    """Breaks: the fixes service frozen (SIGSTOP) before it is ready.
    Proves: "ready" is not printed while the gateway and the other services are ready and it is
    not; the supervisor says what it waits for; once fixes runs again, "ready" comes."""
    run = local_runs().start()
    fixes = await eventually(lambda: run.child("fixes"), 30, "the fixes service to be started")
    os.kill(fixes, signal.SIGSTOP)

    def note_once_the_gateway_is_ready() -> str | None:
        assert BANNER not in run.output, "ready while the fixes service is not"
        return next((line for line in run.output.splitlines()
                     if line.startswith("not ready after") and "gateway" not in line), None)

    note = await eventually(note_once_the_gateway_is_ready, 60, "a note naming what is not ready once the gateway is")
    assert "fixes (not answering)" in note and "issues" not in note and "traces" not in note, note
    os.kill(fixes, signal.SIGCONT)
    await run.ready(60)


async def test_a_service_that_fails_at_start_up_stops_everything_and_is_never_ready(local_runs):
    """Breaks: the shadow runner refuses its settings and exits at once.
    Proves: make run says which process exited, exits non-zero, never says ready, and leaves
    nothing running."""
    run = local_runs(REPLAY_CONCURRENCY="0")
    code = await asyncio.to_thread(run.run_to_end, 60)
    assert code == 1
    said(run.output, "shadow_runner", "1")
    assert BANNER not in run.output
    await all_gone(run, 10)


async def test_a_service_killed_while_running_stops_everything(local_runs):
    """Breaks: the traces service SIGKILLed after `ready`.
    Proves: make run says so, stops every other process and exits non-zero."""
    run = local_runs().start()
    await run.ready()
    os.kill(run.child("traces"), signal.SIGKILL)
    code = await asyncio.to_thread(run.process.popen.wait, 15)
    assert code == 1
    said(run.output, "traces", "SIGKILL")
    await all_gone(run, 5)
