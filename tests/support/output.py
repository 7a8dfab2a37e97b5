"""What a process wrote, read as its reader reads it: a service's log as JSON records picked by
their fields (the event's name, `level`, `correlation_id`, the ids it carries), and a command's
own lines by the names they give (the variable to change, the port, the process), never by their
prose. The event names tests look for are named once here."""

import json
import re
from collections.abc import Iterable
from pathlib import Path

COMMAND_HANDLED = "command handled"
REQUEST_HANDLED = "request handled"
TRACE_REPLAYED = "trace replayed"
REPLAY_SKIPPED = "replay skipped; the test is no longer active"
SERVICE_STARTED = "service started"
START_UP_FAILED = "start-up failed; stopping"
BROKER_RESTORED = "broker connection restored"


def parsed(text: str) -> list[dict]:
    """The JSON records among `text`'s lines (a supervisor's own lines are not JSON)."""
    found = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def file_records(path: Path) -> list[dict]:
    return parsed(path.read_text()) if path.exists() else []


def records(lines: Iterable[dict], **fields) -> list[dict]:
    """The records holding every one of `fields` with that very value."""
    return [line for line in lines if all(key in line and line[key] == value for key, value in fields.items())]


def said(output: str, *names: str) -> str:
    """The first line of a process's own words (not a service's JSON record) that names every one
    of `names` (a variable, a port, a process, a signal), each as a whole word; fails if none does."""
    for line in output.splitlines():
        if not line.startswith("{") and all(re.search(rf"(?<![\w+]){re.escape(name)}(?![\w+])", line)
                                            for name in names):
            return line
    raise AssertionError(f"no line names all of {names}:\n{output}")
