"""The Redis client for rate limits the nodes share (robot budgets, push-ingest buckets).

It exists when ``redis.url`` is set, one per process however many parts ask
for it, and closes when the services stop.  Its keys live under
``<redis.prefix>:limits``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from infra.redis import RedisLink
from monitor.shared_limits import RedisLimits


class LimitsOwner(Protocol):
    """What the shared limits need of the services (``web.compose.Services``)."""

    limits: RedisLimits | None
    on_stop: list[Callable[[], Awaitable[None]]]

    @property
    def redis(self) -> RedisLink | None: ...


def for_services(services: LimitsOwner) -> RedisLimits | None:
    """This process's :class:`RedisLimits`, created on first use; None without ``redis.url``."""
    if services.redis is None:
        return None
    limits = services.limits
    if limits is None:
        limits = services.limits = RedisLimits(services.redis)
        services.on_stop.append(limits.close)  # registered first by its first user, so it stops after them
    return limits
