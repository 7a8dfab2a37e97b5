"""The deadline of the command being handled, for every store call made on its behalf.

The command consumer sets it from the caller's `x-deadline` header; store calls read it,
refuse to start past it, and give the store only the time that is left (so a write cannot
land after the caller has answered its user with a timeout).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from shared.contracts.errors import DeadlineExceeded

_deadline: ContextVar[float | None] = ContextVar("command_deadline", default=None)


@contextmanager
def command_deadline(epoch_seconds: float | None) -> Iterator[None]:
    token = _deadline.set(epoch_seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current command's deadline, or None outside a command."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.time()


def bounded(timeout: float, passed: str) -> float:
    """`timeout`, cut to the time left before the current command's deadline; raises
    `DeadlineExceeded(passed)` when none is left."""
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(passed)
    return timeout if left is None else min(timeout, left)
