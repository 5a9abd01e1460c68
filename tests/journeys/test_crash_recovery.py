"""Crash recovery with real processes (issue #11): ``lantern serve`` killed with SIGKILL at every stage.

The real server runs on a temporary config (real SQLite file, a real RSS feed server and a fake DingTalk robot
on 127.0.0.1). It is frozen at a crash point (:mod:`monitor.faults`) and killed with SIGKILL; the restart is
frozen and killed at the next point, and so on: mid-poll, mid-classify, after the incident write, after the
alert state but before ``notified_at``, mid-delivery. After every kill nothing is stored or counted twice; after
the last restart settles, every feed item is stored once, every incident's counts equal its attached
mentions, every incident was alerted at least once and escalated (level 1, after ~1 s unacknowledged).
Each stage on a fresh database, and kills at random moments: ``python -m benchmarks.crash``.
"""

from __future__ import annotations

from pathlib import Path

from monitor.faults import POINTS
from tests.fixtures.alerts.helpers import Robot
from tests.support_crash import ChainRun


async def test_sigkill_at_every_stage_loses_nothing_and_counts_nothing_twice(tmp_path: Path, robot: Robot) -> None:
    chain = ChainRun(tmp_path, POINTS)
    found = await chain.run(robot)
    print(chain.summary())
    assert found == [], chain.summary()
    by_point = {point: (state, sent) for point, state, sent in chain.states}
    # Each kill happened where it should have (the stage's work done, the next one not).
    assert by_point["poll.fetched"][0]["mentions"] == 0
    assert by_point["pipeline.stored"][0]["unclassified"] == 12
    assert by_point["incidents.attached"][0]["attached"] == 12 and by_point["incidents.attached"][0]["unannounced"]
    assert by_point["pipeline.announced"][0]["unannounced"] == 12
    assert by_point["alerts.posted"][1][0] >= 1  # the robot had the alert before the kill (it may get it again)
    assert by_point["settled"][0]["unannounced"] == 0
