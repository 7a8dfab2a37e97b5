import asyncio
import inspect
import time
from collections.abc import Callable


async def eventually[T](probe: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls `probe` (sync or async) until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)
