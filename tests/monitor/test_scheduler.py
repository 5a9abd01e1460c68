"""The poll scheduler's timing: the first poll at start, and jitter that never lengthens a gap (issue 12)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from monitor.scheduler import EarlyJitter, PollScheduler


def test_early_jitter_never_waits_longer_than_the_interval() -> None:
    trigger = EarlyJitter(300, 30, random.Random(7))
    start = datetime(2026, 3, 16, tzinfo=UTC)
    fired, gaps = start, []
    for _ in range(200):
        nxt = trigger.get_next_fire_time(fired, fired)
        assert nxt is not None
        gaps.append((nxt - fired).total_seconds())
        fired = nxt
    assert max(gaps) <= 300
    assert min(gaps) >= 270
    assert len({round(g) for g in gaps}) > 10  # it does spread


def test_no_jitter_is_exactly_the_interval() -> None:
    trigger = EarlyJitter(60, 0, random.Random(1))
    start = datetime(2026, 3, 16, tzinfo=UTC)
    assert trigger.get_next_fire_time(start, start) == start + timedelta(seconds=60)


async def test_a_new_source_is_polled_at_once_not_after_an_interval() -> None:
    ran: list[tuple[str, float]] = []

    async def run(name: str, due: float) -> None:
        ran.append((name, time.time()))

    scheduler = PollScheduler(run, rng=random.Random(3))
    scheduler.start()
    try:
        started = time.time()
        scheduler.add("feed", 300, 30)
        first = scheduler.next_run("feed")
        assert first is not None and first - started <= 1.0
        for _ in range(40):
            if ran:
                break
            await asyncio.sleep(0.05)
        assert ran and ran[0][0] == "feed" and ran[0][1] - started < 2.0
        following = scheduler.next_run("feed")
        assert following is not None and 270 - 1 <= following - ran[0][1] <= 300 + 1
    finally:
        scheduler.shutdown()
