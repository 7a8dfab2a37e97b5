"""Rate limits: a token bucket per API key.

A key may burst up to `capacity` requests, and gets back `refill_per_second` tokens a second.
Buckets live in the gateway's memory: with several gateway replicas behind a load balancer,
each replica keeps its own buckets, so a key may make up to (replicas × limit).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int


class TokenBuckets:
    def __init__(self, capacity: int, refill_per_second: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self._capacity = capacity
        self._refill = refill_per_second
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> Decision:
        now = self._clock()
        tokens, since = self._buckets.get(key, (float(self._capacity), now))
        tokens = min(float(self._capacity), tokens + (now - since) * self._refill)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._buckets.clear()
        self._buckets[key] = (tokens, now)
        return Decision(
            allowed=allowed,
            limit=self._capacity,
            remaining=int(tokens),
            reset_seconds=math.ceil((self._capacity - tokens) / self._refill),
            retry_after_seconds=0 if allowed else math.ceil((1 - tokens) / self._refill),
        )
