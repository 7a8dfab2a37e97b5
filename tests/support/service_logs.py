"""A service's log as a log collector reads it: JSON records, picked by their fields.

Tests match records by field values (the event's name, `level`, `correlation_id`, the ids it
carries), never by searching the rendered text. The event names tests look for are named once
here."""

import json
from collections.abc import Iterable
from pathlib import Path

COMMAND_HANDLED = "command handled"
REQUEST_HANDLED = "request handled"
TRACE_REPLAYED = "trace replayed"
REPLAY_SKIPPED = "replay skipped; the test is no longer active"
SERVICE_STARTED = "service started"
START_UP_FAILED = "start-up failed; stopping"


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
