"""Rate limits: token buckets, one per key (an API key, or a client address for failed
authentications).

A key may burst up to `capacity` requests, and gets back `refill_per_second` tokens a second.
Buckets live in the gateway's memory, at most `max_keys` of them (the least recently used go
first; a bucket left alone until it is full again is forgotten, as a new one would be full):
with several gateway replicas behind a load balancer, each replica keeps its own buckets, so
a key may make up to (replicas × limit).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache


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
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(
            maxsize=max_keys, ttl=capacity / refill_per_second, timer=clock
        )

    def take(self, key: str) -> Decision:
        """Spends a token of `key`'s bucket if it has one."""
        now = self._clock()
        tokens = self._tokens(key, now)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        return self._decision(allowed, tokens)

    def peek(self, key: str) -> Decision:
        """Whether `key` has a token, spending none."""
        tokens = self._tokens(key, self._clock())
        return self._decision(tokens >= 1, tokens)

    def _tokens(self, key: str, now: float) -> float:
        tokens, since = self._buckets.get(key, (float(self._capacity), now))
        return min(float(self._capacity), tokens + (now - since) * self._refill)

    def _decision(self, allowed: bool, tokens: float) -> Decision:
        return Decision(
            allowed=allowed,
            limit=self._capacity,
            remaining=int(tokens),
            reset_seconds=math.ceil((self._capacity - tokens) / self._refill),
            retry_after_seconds=0 if allowed else math.ceil((1 - tokens) / self._refill),
        )
