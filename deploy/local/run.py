"""`make run`: the whole system on this machine, until Ctrl-C or SIGTERM.

Uses `AMQP_URL` and `MONGODB_URL` when set. Otherwise it makes sure the local RabbitMQ runs
(deploy/local/ensure-rabbitmq.sh) and starts the embedded MongoDB-compatible server with its
data in `VAR_DIR` (default var/), so a restart loses nothing. Without `INIT_API_KEY` it creates
a key for the `default` workspace once, keeps it in `VAR_DIR`/api-key, and prints it. Without
`REPLAY_MODEL_BASE_URL` it starts the scripted demo model (deploy/local/demo_model.py) and
replays against it.

Before starting anything it checks the settings and every port it will listen on, naming the
variable to change. It prints "ready" once every process answers its /readyz, stops everything
when one of them exits, and on SIGTERM, SIGINT or SIGHUP stops everything within 10 seconds.
Its children die with it however it dies (deploy/local/die_with_parent.py). It leaves its bus
namespace (`BUS_NAMESPACE`, default `ar`) on the broker on purpose, and says how to remove it
(`make clean-bus`).
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from deploy.local.config import ConfigError, LocalConfig
from deploy.local.processes import ROOT, SERVICES, Process, embedded_mongo, service, stop_together
from deploy.local.store_file import serving
from services.gateway.domain.api_keys import issue_key
from shared.settings import CommonSettings

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WAITING_NOTE_EVERY = 10.0
SLOW_PROBES_AFTER = 10.0


class Stopped(Exception):
    pass


def ensure_rabbitmq() -> None:
    if "AMQP_URL" not in os.environ:
        subprocess.run(["bash", str(ROOT / "deploy/local/ensure-rabbitmq.sh")], check=True)


def local_api_key(config: LocalConfig) -> str:
    path = config.api_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(issue_key("default").secret + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def not_ready(url: str) -> str | None:
    """None when `url` (a /readyz) says ready; otherwise what it says instead."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return None if json.load(response)["status"] == "ready" else "not ready"
    except urllib.error.HTTPError as error:
        try:
            checks = json.load(error)["checks"]
            return ", ".join(f"{name} {state}" for name, state in checks.items() if state != "ok")
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"HTTP {error.code}"
    except (OSError, ValueError):
        return "not answering"


def local_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def problems(config: LocalConfig) -> list[str]:
    found = config.port_problems()
    if config.mongodb_url is None and (server := serving(config.data_file)):
        found.append(f"{config.data_file} is already served by process {server[0]} on port {server[1]} "
                     "(another make run or make api-key); stop it, or set VAR_DIR to another directory")
    return found


def main() -> int:
    try:
        config = LocalConfig.from_env()
    except ConfigError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 2
    if found := problems(config):
        print("make run: nothing started:\n" + "\n".join(f"  {problem}" for problem in found), file=sys.stderr)
        return 1

    def stop(signum: int, _frame) -> None:
        raise Stopped(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    processes: list[Process] = []
    try:
        return supervise(config, processes)
    except Stopped as stopped:
        print(f"{stopped}: stopping", file=sys.stderr, flush=True)
        return 0
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as error:
        print(f"make run: {error}; stopping", file=sys.stderr, flush=True)
        return 1
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        stop_together([process for process in reversed(processes) if process.name != "mongo"], 6)
        stop_together([process for process in processes if process.name == "mongo"], 3)
        if any(process.name in SERVICES for process in processes):
            print(kept_namespace_note(), file=sys.stderr, flush=True)


def supervise(config: LocalConfig, processes: list[Process]) -> int:
    """Starts everything into `processes`, then watches until a signal or a process exits."""
    ensure_rabbitmq()
    env = {"GATEWAY_PORT": str(config.gateway_port)}
    if config.mongodb_url is None:
        processes.append(embedded_mongo(config.embedded_mongo_port, str(config.data_file)))
        processes[-1].start_listening(config.embedded_mongo_port)
        env["MONGODB_URL"] = f"mongodb://127.0.0.1:{config.embedded_mongo_port}/"
    env["INIT_API_KEY"] = config.init_api_key or local_api_key(config)
    if config.replay_model_base_url is None:
        demo = Process("demo-model", ["-m", "deploy.local.demo_model", "--port", str(config.demo_model_port)])
        processes.append(demo)
        demo.start_listening(config.demo_model_port)
        env["REPLAY_MODEL_BASE_URL"] = f"http://127.0.0.1:{config.demo_model_port}/v1"
        print(f"replaying against the scripted demo model on port {config.demo_model_port} (set "
              "REPLAY_MODEL_BASE_URL for a real one)", flush=True)
    ops_ports = config.ops_ports
    processes += [service(name, {**env, "OPS_PORT": str(ops_ports[name])}).start() for name in SERVICES]
    processes.append(service("gateway", env).start())

    ops_host = local_host(config.ops_host)
    probes = {name: f"http://{ops_host}:{port}/readyz" for name, port in ops_ports.items()}
    probes["gateway"] = f"http://{local_host(config.gateway_host)}:{config.gateway_port}/readyz"
    started = time.monotonic()
    next_probe, next_note = started, started + WAITING_NOTE_EVERY
    announced = False
    while True:
        if exited := first_exited(processes):
            return stopping_for(exited)
        if not announced and time.monotonic() >= next_probe:
            waiting = {name: why for name, url in probes.items() if (why := not_ready(url))}
            if exited := first_exited(processes):
                return stopping_for(exited)
            now = time.monotonic()
            next_probe = now + (0.2 if now - started < SLOW_PROBES_AFTER else 2.0)
            if not waiting:
                announced = True
                announce(config, env, ops_ports)
            elif now > next_note:
                next_note += WAITING_NOTE_EVERY
                print(f"not ready after {now - started:.0f}s: "
                      + "; ".join(f"{name} ({why})" for name, why in waiting.items()), file=sys.stderr, flush=True)
        time.sleep(0.2)


def first_exited(processes: list[Process]) -> Process | None:
    return next((process for process in processes if not process.running), None)


def stopping_for(process: Process) -> int:
    code = process.popen.returncode
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    print(f"make run: {process.name} {how}; stopping everything", file=sys.stderr, flush=True)
    return 1


def announce(config: LocalConfig, env: dict[str, str], ops_ports: dict[str, int]) -> None:
    key_note = "from INIT_API_KEY" if config.init_api_key else f"in {config.api_key_file}"
    ops = ", ".join(f"{name} :{port}" for name, port in ops_ports.items())
    print(f"\nready: http://localhost:{config.gateway_port}   API key ({key_note}): {env['INIT_API_KEY']}\n"
          f"console: http://localhost:{config.gateway_port}/ (sign in with that key)\n"
          f"health and metrics (/healthz, /readyz, /metrics): {ops}\n"
          f"{kept_namespace_note()}\n", flush=True)


def kept_namespace_note() -> str:
    namespace = CommonSettings().bus_namespace
    return (f"bus namespace {namespace}: its queues and exchanges stay on the broker when this stops, on purpose "
            f"(so nothing queued is lost); remove them with: make clean-bus BUS_NAMESPACE={namespace}")


if __name__ == "__main__":
    sys.exit(main())
