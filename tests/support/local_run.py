"""`make run` as a user starts it (`python -m deploy.local.run`), with every port moved to a free
one, its own bus namespace and its own VAR_DIR, and a way to find every process it started
(even one orphaned): they all carry its `BUS_NAMESPACE` in their environment."""

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.processes import ROOT, SERVICES, Process, free_port, port_free
from deploy.local.stack import StartedWith
from tests.support.waiting import eventually

BANNER = "\nready: "


def free_ports_from(count: int) -> int:
    """The first of `count` consecutive free ports."""
    while True:
        first = free_port()
        if first + count <= 65536 and all(port_free("0.0.0.0", first + n) for n in range(count)):
            return first


def processes_with(marker: str) -> list[int]:
    """Pids of the live processes whose environment holds `marker` (NAME=value)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class LocalRun(StartedWith):
    var_dir: Path
    env: dict[str, str]
    process: Process | None = None
    log_file: Path = field(init=False)

    def __post_init__(self):
        self.log_file = self.var_dir.parent / f"{self.namespace}-make-run.log"

    @classmethod
    def moved(cls, base_dir: Path, amqp_url: str, **settings: str) -> "LocalRun":
        namespace = "run" + uuid.uuid4().hex[:10]
        env = {
            "AMQP_URL": amqp_url,
            "MONGODB_URL": "",
            "REPLAY_MODEL_BASE_URL": "",
            "INIT_API_KEY": "",
            "GATEWAY_PORT": str(free_port()),
            "EMBEDDED_MONGO_PORT": str(free_port()),
            "DEMO_MODEL_PORT": str(free_port()),
            "FIRST_OPS_PORT": str(free_ports_from(len(SERVICES))),
            "BUS_NAMESPACE": namespace,
            "VAR_DIR": str(base_dir / namespace / "var"),
            "LOG_FORMAT": "json",
            **settings,
        }
        return cls(Path(env["VAR_DIR"]), env)

    @property
    def ports(self) -> list[int]:
        first = int(self.env["FIRST_OPS_PORT"])
        return [int(self.env[name]) for name in ("GATEWAY_PORT", "EMBEDDED_MONGO_PORT", "DEMO_MODEL_PORT")] + [
            first + n for n in range(len(SERVICES))]

    def start(self) -> "LocalRun":
        self.var_dir.parent.mkdir(parents=True, exist_ok=True)
        self.process = Process("make-run", ["-m", "deploy.local.run"], env=self.env,
                               output=open(self.log_file, "a")).start()
        return self

    def run_to_end(self, timeout: float = 30) -> int:
        """Runs it until it exits by itself; its exit code."""
        return self.start().process.popen.wait(timeout)

    def api_key(self, workspace: str, **settings: str) -> subprocess.CompletedProcess:
        """`make api-key WORKSPACE=workspace` with this run's settings (and `settings` over them)."""
        return subprocess.run([sys.executable, "-m", "deploy.local.api_key", "--workspace", workspace],
                              env={**os.environ, **self.env, **settings}, cwd=ROOT, capture_output=True, text=True,
                              timeout=60)

    @property
    def output(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    async def ready(self, timeout: float = 120) -> str:
        """The ready banner, once printed (fails at once if the supervisor exits first)."""

        def banner() -> str | None:
            assert self.process.running, f"make run exited with {self.process.popen.returncode}:\n{self.output}"
            return self.output if BANNER in self.output else None

        return await eventually(banner, timeout, "make run to print ready", interval=0.1)

    def children(self) -> list[int]:
        return [pid for pid in processes_with(f"BUS_NAMESPACE={self.namespace}")
                if self.process is None or pid != self.process.popen.pid]

    def child(self, name: str) -> int | None:
        """The pid of the child running `services.<name>` (or deploy.local.<name>), once there is one."""
        return next((pid for pid in self.children() if f".{name} " in command_line(pid) + " "), None)

    def ports_taken(self) -> list[int]:
        return [port for port in self.ports if not port_free("0.0.0.0", port)]

    def kill_everything(self) -> None:
        """However the test ended: the supervisor and anything it started, SIGKILLed."""
        if self.process is not None:
            self.process.kill()
        for pid in processes_with(f"BUS_NAMESPACE={self.namespace}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
