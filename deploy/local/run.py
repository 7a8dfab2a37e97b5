"""`make run`: the whole system on this machine, until Ctrl-C or SIGTERM.

Uses `AMQP_URL` and `MONGODB_URL` when set. Otherwise it makes sure the local RabbitMQ runs
(deploy/local/ensure-rabbitmq.sh) and starts the embedded MongoDB-compatible server with its
data in var/mongo/, so a restart loses nothing. Without `INIT_API_KEY` it creates a key for
the `default` workspace once, keeps it in var/api-key, and prints it. Without
`REPLAY_MODEL_BASE_URL` it starts the scripted demo model (deploy/local/demo_model.py) and
replays against it.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from deploy.local.processes import ROOT, SERVICES, Process, embedded_mongo, port_open, service
from services.gateway.domain.api_keys import issue_key

EMBEDDED_MONGO_PORT = int(os.environ.get("EMBEDDED_MONGO_PORT", "27018"))
DEMO_MODEL_PORT = int(os.environ.get("DEMO_MODEL_PORT", "8089"))
FIRST_OPS_PORT = int(os.environ.get("FIRST_OPS_PORT", "8181"))
VAR = ROOT / "var"


def ensure_rabbitmq() -> None:
    if "AMQP_URL" not in os.environ:
        subprocess.run(["bash", str(ROOT / "deploy/local/ensure-rabbitmq.sh")], check=True)


def local_api_key() -> str:
    path = VAR / "api-key"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        path.write_text(issue_key("default").secret + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return json.load(response)["status"] == "ready"
    except OSError:
        return False


def main() -> int:
    ensure_rabbitmq()
    processes: list[Process] = []
    try:
        return supervise(processes)
    finally:
        for process in reversed(processes):
            process.stop()


def supervise(processes: list[Process]) -> int:
    """Starts everything into `processes`, then watches until a signal or a process exits."""
    env = {"GATEWAY_PORT": os.environ.get("GATEWAY_PORT", "8080")}
    if "MONGODB_URL" not in os.environ:
        if port_open("127.0.0.1", EMBEDDED_MONGO_PORT):
            print(f"port {EMBEDDED_MONGO_PORT} is taken; set EMBEDDED_MONGO_PORT or MONGODB_URL", file=sys.stderr)
            return 1
        processes.append(embedded_mongo(EMBEDDED_MONGO_PORT, str(VAR / "mongo" / "data.sqlite")))
        processes[-1].start_listening(EMBEDDED_MONGO_PORT)
        env["MONGODB_URL"] = f"mongodb://127.0.0.1:{EMBEDDED_MONGO_PORT}/"
    if "INIT_API_KEY" not in os.environ:
        env["INIT_API_KEY"] = local_api_key()
    if "REPLAY_MODEL_BASE_URL" not in os.environ:
        demo = Process("demo-model", ["-m", "deploy.local.demo_model", "--port", str(DEMO_MODEL_PORT)])
        processes.append(demo)
        demo.start_listening(DEMO_MODEL_PORT)
        env["REPLAY_MODEL_BASE_URL"] = f"http://127.0.0.1:{DEMO_MODEL_PORT}/v1"
        print(f"replaying against the scripted demo model on port {DEMO_MODEL_PORT} (set REPLAY_MODEL_BASE_URL "
              "for a real one)", flush=True)
    ops_ports = {name: FIRST_OPS_PORT + index for index, name in enumerate(SERVICES)}
    processes += [service(name, {**env, "OPS_PORT": str(ops_ports[name])}).start() for name in SERVICES]
    processes.append(service("gateway", env).start())

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    base = f"http://localhost:{env['GATEWAY_PORT']}"
    announced = False
    while not stopping:
        failed = [process for process in processes if not process.running]
        if failed:
            print(f"{failed[0].name} exited with code {failed[0].popen.returncode}; stopping", file=sys.stderr)
            return 1
        if not announced and ready(f"{base}/readyz"):
            announced = True
            key_note = "from INIT_API_KEY" if "INIT_API_KEY" in os.environ else "in var/api-key"
            ops = ", ".join(f"{name} :{port}" for name, port in ops_ports.items())
            print(f"\nready: {base}   API key ({key_note}): {env['INIT_API_KEY']}\n"
                  f"health and metrics (/healthz, /readyz, /metrics): {ops}\n", flush=True)
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
