"""Per-robot send budgets in which P1 never waits behind P3.

Each channel has a sliding-window budget (e.g. DingTalk 20 per minute, Feishu
100 per minute and 5 per second).  Lower tiers may use only a share of it, so
a burst of P3 alerts can never use up the room a P1 alert needs; what a lower
tier cannot send in time is folded into a digest by the outbox.
"""

from __future__ import annotations

from collections import deque

SHARES = {"P1": 1.0, "P2": 0.8, "P3": 0.6, "P4": 0.5}


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
        self._sent.append(now)

    def seed(self, times: list[float]) -> None:
        """Start from sends recorded before a restart, so a restart does not double the budget."""
        self._sent = deque(sorted(times))

    def used(self, now: float) -> int:
        self._trim(now)
        return len(self._sent)
