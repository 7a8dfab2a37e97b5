"""Starting and stopping the system's processes on one machine (for `make run` and tests)."""

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("issues", "fixes", "traces", "shadow_runner", "clustering", "delivery")
DIE_WITH_PARENT = ROOT / "deploy" / "local" / "die_with_parent.py"


def free_port() -> int:
    """A port free now, chosen below the kernel's ephemeral range: a port the kernel hands out
    itself can be taken by any outgoing connection before our server binds it."""
    low = _ephemeral_ports_start()
    if low <= _LOWEST_CHOSEN_PORT + 1000:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    while True:
        port = random.randrange(_LOWEST_CHOSEN_PORT, low)
        if port_free("0.0.0.0", port) and port_free("127.0.0.1", port):
            return port


_LOWEST_CHOSEN_PORT = 10000


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on `host`:`port` now (bound the way aiohttp binds)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


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


class LoopThread:
    """An event loop in a daemon thread, for an asyncio server driven by synchronous code."""

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run[T](self, coroutine: Coroutine[object, object, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class Process:
    """A Python child in a session of its own (so each one can be signalled alone and Ctrl-C
    reaches only its parent), which dies with the process that started it however that one
    dies (deploy/local/die_with_parent.py). Start it from a thread that lives as long as it
    should: the kernel ties it to the starting thread."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    output: IO | int | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        self.popen = subprocess.Popen(
            [sys.executable, str(DIE_WITH_PARENT), str(os.getpid()), *self.args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output is not None else None,
            start_new_session=True,
        )
        return self

    def start_listening(self, port: int, timeout: float = 30.0) -> "Process":
        """Starts the process and waits until it accepts connections on `port`."""
        self.start()
        wait_until(lambda: port_open("127.0.0.1", port) or not self.running, timeout,
                   f"{self.name} to listen on port {port}")
        if not self.running:
            raise RuntimeError(f"{self.name} exited with code {self.popen.returncode} before listening on port {port}")
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            self.popen.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int | None:
        stop_together([self], timeout)
        return None if self.popen is None else self.popen.returncode

    def kill(self) -> None:
        """SIGKILL to the process and anything it started (its own process group)."""
        if self.running:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.popen is not None:
            self.popen.wait()


def stop_together(processes: list[Process], timeout: float) -> None:
    """SIGTERM to all at once; SIGKILL to whichever is still running after `timeout` seconds."""
    for process in processes:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        if process.popen is None:
            continue
        try:
            process.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def embedded_mongo(port: int, path: str | None, output: IO | int | None = None) -> Process:
    args = ["-m", "deploy.local.embedded_mongo", "--port", str(port)]
    if path:
        args += ["--path", path]
    return Process("mongo", args, output=output)


def service(name: str, env: dict[str, str], output: IO | int | None = None) -> Process:
    return Process(name, ["-m", f"services.{name}"], env=env, output=output)
