"""Which embedded store serves a data file. While it runs, the server notes its pid and port
beside the file (`<file>.server`), so `make api-key` writes where `make run` reads and two
servers never share one file. A note left by a killed server is ignored: its pid is gone."""

import json
import os
from pathlib import Path

from deploy.local.processes import port_open


def _note(data_file: Path) -> Path:
    return data_file.with_name(data_file.name + ".server")


def note_server(data_file: Path, port: int) -> None:
    _note(data_file).write_text(json.dumps({"pid": os.getpid(), "port": port}))


def forget_server(data_file: Path) -> None:
    _note(data_file).unlink(missing_ok=True)


def serving(data_file: Path) -> tuple[int, int] | None:
    """(pid, port) of the live server of `data_file`, or None when none serves it."""
    try:
        note = json.loads(_note(data_file).read_text())
        pid, port = int(note["pid"]), int(note["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return (pid, port) if port_open("127.0.0.1", port) else None
