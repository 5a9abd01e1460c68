"""Rate limits several ``lantern serve`` nodes share through Redis, with a local fallback.

A DingTalk robot takes 20 messages a minute however many nodes post to it,
and a push source's ``/api/ingest`` allowance is meant per source, not per
node; kept in process memory, each node would allow the full rate.  With
``redis.url`` set, the Redis the nodes share keeps these counters (under
``<redis.prefix>:limits``), each check-and-take one Lua script (atomic on the server):

* a sliding window (``ZSET`` of send times) for robot budgets, with the
  per-tier cap of :mod:`monitor.channels.budget` so P1 never waits behind P3;
* a token bucket (``HASH`` of tokens and time) for the push-ingest limit.

Times are the callers' injected-clock epochs, as in the in-process versions.
Every call answers ``None`` when Redis cannot be reached: the caller then uses
its in-process budget (alerts still go out, at most one node's worth too many),
a warning is logged once per outage, and Redis is tried again ``retry_s``
later (so an outage never costs a connect timeout per alert).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from redis.exceptions import RedisError

from infra.redis import RedisLink

log = logging.getLogger("lantern.shared_limits")

# KEYS[1] zset of send times; ARGV: now, cap (-1: none), per_second (-1: none), unique member -> 1 taken, 0 full
_WINDOW = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
local cap = tonumber(ARGV[2])
if cap >= 0 and redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
local per_second = tonumber(ARGV[3])
if per_second >= 0 and redis.call('ZCOUNT', KEYS[1], '(' .. (now - 1), '+inf') >= per_second then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""

# KEYS[1] hash {tokens, at}; ARGV: now, per_minute, burst -> seconds to wait ("0": a token was taken)
_BUCKET = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 60)
at = math.max(at, now)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) * 60 / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], math.ceil(burst * 60 / rate) + 60)
return tostring(wait)
"""


class RedisLimits:
    """One Redis client for the shared limits of this node; every method answers ``None`` while Redis is away."""

    def __init__(self, link: RedisLink, *, retry_s: float = 5.0, timeout_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self.retry_s = retry_s
        self.monotonic = monotonic
        self.redis = link.client("limits", connect_timeout_s=timeout_s, timeout_s=timeout_s)
        self._window = self.redis.register_script(_WINDOW)
        self._bucket = self.redis.register_script(_BUCKET)
        self._members = count(1)
        self.down = False  # the last call failed: callers are on their in-process budgets
        self._retry_at = float("-inf")

    def key(self, name: str) -> str:
        return self.link.key("limits", name)

    def member(self) -> str:
        """A unique entry for a sliding window (two nodes may send in the same millisecond)."""
        return f"{self.link.node}:{next(self._members)}"

    async def _run(self, script: Any, key: str, args: list[str]) -> Any:
        if self.down and self.monotonic() < self._retry_at:
            return None
        try:
            result = await script(keys=[self.key(key)], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            if not self.down:
                log.warning("shared rate limits: Redis unreachable (%s); each node uses its own in-process "
                            "budgets until it is back", type(exc).__name__)
            self.down = True
            self._retry_at = self.monotonic() + self.retry_s
            return None
        if self.down:
            log.warning("shared rate limits: Redis is back; the nodes share their budgets again")
            self.down = False
        return result

    async def window_take(self, key: str, now: float, *, cap: int | None, per_second: int | None,
                          member: str) -> bool | None:
        """Take a place in ``key``'s 60 s window if fewer than ``cap`` (and ``per_second`` in the last second)."""
        result = await self._run(self._window, key, [repr(now), str(-1 if cap is None else cap),
                                                      str(-1 if per_second is None else per_second), member])
        return None if result is None else bool(int(result))

    async def window_give_back(self, key: str, member: str) -> None:
        """Return a place taken for a send that did not happen (another node claimed the alert)."""
        if self.down:
            return
        try:
            await self.redis.zrem(self.key(key), member)
        except (RedisError, OSError, TimeoutError):
            pass  # the place frees itself within 60 s

    async def bucket_take(self, key: str, now: float, *, per_minute: int, burst: int) -> float | None:
        """Take a token from ``key``'s bucket: 0.0, or the seconds until one is there."""
        result = await self._run(self._bucket, key, [repr(now), str(per_minute), str(burst)])
        return None if result is None else float(result)

    async def close(self) -> None:
        await self.redis.aclose()
