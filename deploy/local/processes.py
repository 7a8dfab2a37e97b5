"""Starting and stopping the system's processes on one machine (for `make run` and tests)."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("issues", "fixes", "traces", "shadow_runner")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    output: IO | int | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        self.popen = subprocess.Popen(
            [sys.executable, *self.args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output is not None else None,
            start_new_session=True,
        )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            self.popen.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.popen is None:
            return None
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def embedded_mongo(port: int, path: str | None, output: IO | int | None = None) -> Process:
    args = ["deploy/local/embedded_mongo.py", "--port", str(port)]
    if path:
        args += ["--path", path]
    return Process("mongo", args, output=output)


def service(name: str, env: dict[str, str], output: IO | int | None = None) -> Process:
    return Process(name, ["-m", f"services.{name}"], env=env, output=output)
