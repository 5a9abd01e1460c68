"""Per-robot send budgets in which P1 never waits behind P3.

Each channel has a sliding-window budget (e.g. DingTalk 20 per minute, Feishu
100 per minute and 5 per second).  Lower tiers may use only a share of it, so
a burst of P3 alerts can never use up the room a P1 alert needs; what a lower
tier cannot send in time is folded into a digest by the outbox.

:class:`Budget` counts this node's sends; :class:`SharedBudget` counts every
node's in Redis (:mod:`monitor.shared_limits`) and falls back to its own
in-process count while Redis is unreachable.  The sender calls
:meth:`Budget.acquire` before it claims an alert and :meth:`Budget.give_back`
if the claim is lost.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from monitor.shared_limits import RedisLimits

SHARES = {"P1": 1.0, "P2": 0.8, "P3": 0.6, "P4": 0.5}


@dataclass(frozen=True)
class Place:
    """One place taken in a budget, to give back if the send does not happen."""

    at: float
    member: str = ""  # the shared window's entry; "" when the in-process budget was used


class Budget:
    def __init__(self, per_minute: int | None, per_second: int | None = None) -> None:
        self.per_minute = per_minute
        self.per_second = per_second
        self._sent: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - 60:
            self._sent.popleft()

    def cap(self, tier: str) -> int | None:
        if self.per_minute is None:
            return None
        return max(1, int(self.per_minute * SHARES.get(tier, 0.5)))

    def allows(self, now: float, tier: str) -> bool:
        self._trim(now)
        cap = self.cap(tier)
        if cap is not None and len(self._sent) >= cap:
            return False
        if self.per_second is not None:
            recent = sum(1 for t in self._sent if t > now - 1)
            if recent >= self.per_second:
                return False
        return True

    def take(self, now: float) -> None:
        self._trim(now)  # SharedBudget takes without asking allows(): the local count must not grow forever
        self._sent.append(now)

    def seed(self, times: list[float]) -> None:
        """Start from sends recorded before a restart, so a restart does not double the budget."""
        self._sent = deque(sorted(times))

    def used(self, now: float) -> int:
        self._trim(now)
        return len(self._sent)

    @property
    def limited(self) -> bool:
        return self.per_minute is not None or self.per_second is not None

    async def acquire(self, now: float, tier: str) -> Place | None:
        """Take a place for an alert of ``tier`` at ``now``, or None if the budget holds it back."""
        if not self.allows(now, tier):
            return None
        self.take(now)
        return Place(now)

    async def give_back(self, place: Place) -> None:
        try:
            self._sent.remove(place.at)
        except ValueError:
            pass  # already out of the window


class SharedBudget(Budget):
    """A robot's budget counted across nodes in Redis; this node's own count when Redis is away."""

    def __init__(self, per_minute: int | None, per_second: int | None, *, limits: RedisLimits, key: str) -> None:
        super().__init__(per_minute, per_second)
        self.limits = limits
        self.key = key

    async def acquire(self, now: float, tier: str) -> Place | None:
        member = self.limits.member()
        shared = await self.limits.window_take(self.key, now, cap=self.cap(tier), per_second=self.per_second,
                                               member=member)
        if shared is None:  # Redis unreachable: this node's own budget (logged by RedisLimits)
            return await super().acquire(now, tier)
        if not shared:
            return None
        self.take(now)  # kept locally too, so a Redis outage starts from this node's recent sends
        return Place(now, member)

    async def give_back(self, place: Place) -> None:
        await super().give_back(place)
        if place.member:
            await self.limits.window_give_back(self.key, place.member)
