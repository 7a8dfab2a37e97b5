"""The whole system as separate processes with their own bus namespace and database, for
end-to-end tests and benchmarks."""

import json
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.processes import SERVICES, Process, free_port, service, wait_until

STARTED = '"event": "service started"'


class StartedWith:
    """What the environment that every process of a run is started with says about the run."""

    env: dict[str, str]

    @property
    def namespace(self) -> str:
        return self.env["BUS_NAMESPACE"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"


@dataclass
class Stack(StartedWith):
    log_dir: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)
    ops_ports: dict[str, int] = field(default_factory=dict)

    @property
    def database(self) -> str:
        return self.env["MONGODB_DATABASE"]

    @property
    def amqp_url(self) -> str:
        return self.env["AMQP_URL"]

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{self.namespace}-{name}.log"

    def log_lines(self, name: str) -> list[dict]:
        lines = []
        for line in self.log_path(name).read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def start(self, name: str, instance: int | None = None) -> str:
        """Starts a service (another instance of it when `instance` is given); returns its key."""
        key = name if instance is None else f"{name}-{instance}"
        log = open(self.log_path(key), "a")
        offset = self.log_path(key).stat().st_size
        env = self.env
        if name != "gateway":
            self.ops_ports[key] = free_port()
            env = {**self.env, "OPS_PORT": str(self.ops_ports[key])}
        self.processes[key] = service(name, env, output=log).start()
        wait_until(
            lambda: STARTED in self.log_path(key).read_text()[offset:] or not self.processes[key].running,
            60,
            f"{key} to start",
        )
        if not self.processes[key].running:
            raise RuntimeError(f"{key} exited at start-up; see {self.log_path(key)}")
        return key

    def stop(self, name: str) -> None:
        self.processes[name].stop()

    def kill(self, name: str) -> None:
        self.processes[name].signal(signal.SIGKILL)
        self.processes[name].popen.wait()

    def pause(self, name: str) -> None:
        self.processes[name].signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.processes[name].signal(signal.SIGCONT)

    def start_all(self) -> "Stack":
        for name in (*SERVICES, "gateway"):
            self.start(name)
        return self

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()


def new_stack(amqp_url: str, mongodb_url: str, log_dir: Path, **settings: str) -> Stack:
    namespace = "t" + uuid.uuid4().hex[:10]
    env = {
        "AMQP_URL": amqp_url,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DATABASE": f"test_{namespace}",
        "BUS_NAMESPACE": namespace,
        "GATEWAY_PORT": str(free_port()),
        "LOG_FORMAT": "json",
        "INIT_API_KEY": "thk_" + uuid.uuid4().hex,
        **{key.upper(): value for key, value in settings.items()},
    }
    return Stack(log_dir, env)
