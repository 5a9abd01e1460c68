"""Token buckets per key (the push-ingest limit per source), on an injected clock.

Each key's bucket holds at most ``burst`` tokens and refills at ``per_minute``
tokens a minute; a request takes one token or is told how long until one is
there.  Keys are authenticated names (never raw client input), so the table
stays as small as the set of push sources; full buckets are forgotten anyway
when it grows past ``max_keys``.

:class:`SharedTokenBuckets` keeps the buckets in Redis (one per key for all
nodes, :mod:`monitor.shared_limits`) and uses its own in-process buckets
while Redis is unreachable.  Callers use :meth:`TokenBuckets.acquire`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.shared_limits import RedisLimits


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    def __init__(self, per_minute: int, *, burst: int | None = None, clock: Callable[[], float] = time.time,
                 max_keys: int = 10_000) -> None:
        self.per_minute = max(0, int(per_minute))
        self.burst = max(1, int(burst if burst is not None else self.per_minute))
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.at)  # a clock stepping back never drains a bucket
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_minute / 60.0)
        bucket.at = max(bucket.at, now)

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until a token is available."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            self._refill(bucket, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) * 60.0 / self.per_minute

    async def acquire(self, key: str) -> float:
        """:meth:`take`, for callers that may hold a :class:`SharedTokenBuckets`."""
        return self.take(key)

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self.burst:
                del self._buckets[key]


class SharedTokenBuckets(TokenBuckets):
    """The same buckets for every node, in Redis; this node's own while Redis is away (logged by ``limits``)."""

    def __init__(self, per_minute: int, *, limits: RedisLimits, prefix: str, burst: int | None = None,
                 clock: Callable[[], float] = time.time, max_keys: int = 10_000) -> None:
        super().__init__(per_minute, burst=burst, clock=clock, max_keys=max_keys)
        self.limits = limits
        self.prefix = prefix

    async def acquire(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        wait = await self.limits.bucket_take(f"{self.prefix}:{key}", self.clock(), per_minute=self.per_minute,
                                             burst=self.burst)
        if wait is None:
            return self.take(key)
        if wait == 0.0:
            self.take(key)  # this node's own count too, so an outage starts from where it was
        return wait


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for ``Retry-After``: rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))
