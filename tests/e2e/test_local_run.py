"""`make run` and `make api-key` refuse what cannot work before starting anything, and say which
variable to change; the gateway does not live on after a failed start-up.
(The slow cases, with a whole stack running, are in tests/faults/test_local_run.py.)"""

import socket
import subprocess
import sys

import pytest

from deploy.local.processes import SERVICES, embedded_mongo, free_port, service
from tests.support.local_run import LocalRun
from tests.support.output import SERVICE_STARTED, START_UP_FAILED, file_records, parsed, records, said

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform != "linux", reason="finds processes in /proc")]


def listener(port: int) -> socket.socket:
    """Something else holding `port`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def assert_nothing_started(run: LocalRun) -> None:
    assert run.children() == [], run.output
    assert records(parsed(run.output), event=SERVICE_STARTED) == []
    assert not [line for line in run.output.splitlines() if line.startswith("ready")], "something said it was ready"
    assert not (run.var_dir / "mongo").exists(), "the store was started"


@pytest.mark.parametrize("variable, offset", [
    ("GATEWAY_PORT", 0), ("EMBEDDED_MONGO_PORT", 0), ("DEMO_MODEL_PORT", 0), ("FIRST_OPS_PORT", 0),
    ("FIRST_OPS_PORT", 3)])
def test_a_taken_port_is_named_with_its_variable_and_nothing_starts(local_runs, variable, offset):
    run = local_runs()
    taken = int(run.env[variable]) + offset
    with listener(taken):
        code = run.run_to_end()
    assert code == 1, run.output
    setting = f"{variable}+{offset}" if variable == "FIRST_OPS_PORT" else variable
    said(run.output, str(taken), setting)
    said(run.output, str(taken), "set", variable)
    assert_nothing_started(run)


def test_two_settings_on_one_port_are_both_named(local_runs):
    run = local_runs()
    run.env["DEMO_MODEL_PORT"] = run.env["GATEWAY_PORT"]
    assert run.run_to_end() == 1
    said(run.output, run.env["GATEWAY_PORT"], "GATEWAY_PORT", "DEMO_MODEL_PORT")
    assert_nothing_started(run)


def test_a_port_that_is_not_a_port_is_refused(local_runs):
    run = local_runs(FIRST_OPS_PORT="65534")
    assert run.run_to_end() == 2
    said(run.output, "FIRST_OPS_PORT", str(65535 - (len(SERVICES) - 1)), "65534")
    assert_nothing_started(run)


@pytest.mark.parametrize("key", ["thk_short", "sk-0123456789abcdef0123", "thk_0123456789abcdef!!!!"])
def test_a_malformed_init_api_key_says_what_is_wrong_and_nothing_starts(local_runs, key):
    run = local_runs(INIT_API_KEY=key)
    assert run.run_to_end() == 2
    said(run.output, "INIT_API_KEY", "thk_", "16-128")
    assert key not in run.output, "the supervisor echoed the secret"
    assert_nothing_started(run)


def test_the_data_file_of_a_running_store_is_not_served_twice(local_runs):
    run = local_runs()
    port = free_port()
    store = embedded_mongo(port, str(run.var_dir / "mongo" / "data.sqlite"), output=subprocess.DEVNULL)
    try:
        store.start_listening(port)
        assert run.run_to_end() == 1
        said(run.output, str(store.popen.pid), str(port), "VAR_DIR")
        assert run.children() == []
    finally:
        store.stop()


def test_make_api_key_refuses_to_write_into_something_that_is_not_its_store(local_runs):
    run = local_runs()
    port = int(run.env["EMBEDDED_MONGO_PORT"])
    with listener(port):
        made = run.api_key("acme")
    assert made.returncode == 1
    said(made.stderr, str(port), "EMBEDDED_MONGO_PORT")
    assert "thk_" not in made.stdout
    assert not (run.var_dir / "mongo").exists()


def test_the_gateway_exits_non_zero_and_says_why_when_its_start_up_fails(mongo, amqp, log_dir):
    """Its INIT_API_KEY is malformed: it must not stay alive and never ready."""
    log = log_dir / "gateway-bad-init-key.log"
    env = {"MONGODB_URL": mongo, "AMQP_URL": amqp, "BUS_NAMESPACE": "t-badkey", "LOG_FORMAT": "json",
           "GATEWAY_PORT": str(free_port()), "INIT_API_KEY": "thk_short"}
    with open(log, "w") as output:
        gateway = service("gateway", env, output=output).start()
    try:
        assert gateway.popen.wait(30) == 1
    finally:
        gateway.stop()
    logged = file_records(log)
    failures = records(logged, event=START_UP_FAILED, level="error")
    assert len(failures) == 1 and "INIT_API_KEY" in failures[0]["error"], logged
    assert records(logged, event=SERVICE_STARTED) == []
