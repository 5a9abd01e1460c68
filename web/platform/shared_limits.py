"""The Redis client for rate limits the nodes share (robot budgets, push-ingest buckets).

It exists when ``redis.url`` is set, one per process however many parts ask
for it, and closes when the services stop.  Its keys live under
``<redis.prefix>:limits``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.shared_limits import RedisLimits

if TYPE_CHECKING:
    from web.compose import Services


def for_services(services: Services) -> RedisLimits | None:
    """This process's :class:`RedisLimits`, created on first use; None without ``redis.url``."""
    if services.redis is None:
        return None
    limits = services.limits
    if limits is None:
        limits = services.limits = RedisLimits(services.redis)
        services.on_stop.append(limits.close)  # registered first by its first user, so it stops after them
    return limits
