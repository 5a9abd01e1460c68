"""Crash loops with real processes (not a test; run by hand): ``python -m benchmarks.crash [--kills N] [--items N]``.

(a) **stages**: for each crash point of :mod:`monitor.faults`, a fresh database: ``lantern serve`` frozen at the
    point, SIGKILL, restart, settle; the counts at the kill and after (``tests/support_crash.CrashRun``).
(b) **random**: one database, ``--kills`` restarts each killed with SIGKILL after a random 4-12 s (mid-start,
    mid-poll, mid-classify, mid-delivery, wherever it is; start-up takes ~5-8 s), the feed gaining 4 new posts
    before each restart, then one run that settles.

After each: every item stored once, every incident's counts equal to its attached mentions, every incident
alerted at least once and escalated. The last line (stdout) holds ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from monitor.faults import POINTS
from tests.fixtures.alerts.helpers import Robot
from tests.support_crash import (
    CrashRun,
    Feed,
    Lantern,
    config,
    describe,
    feed_items,
    free_port,
    interim_problems,
    ledger,
    problems,
    rss,
    settled,
    wait_for,
)

GROWTH = 4  # feed items added before each restart of part (b)


async def stages(items: int) -> int:
    bad = 0
    for point in POINTS:
        robot = await Robot().start()
        with tempfile.TemporaryDirectory() as tmp:
            run = CrashRun(Path(tmp), point, items=items)
            found = await run.run(robot)
        await robot.close()
        print(run.summary(), file=sys.stderr)
        for problem in found:
            print(f"  PROBLEM: {problem}", file=sys.stderr)
        bad += len(found)
    return bad


async def random_kills(kills: int, items: int, rng: random.Random) -> int:
    robot = await Robot().start()
    feed = await Feed(feed_items(items)).start()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lantern.db"
        cfg = config(Path(tmp), feed, robot, free_port())
        for n in range(kills):
            feed.body = rss(feed_items(items + n * GROWTH))  # new posts each round: always something in flight
            lantern = Lantern(cfg).start()
            delay = rng.uniform(4.0, 12.0)
            await asyncio.sleep(delay)
            lantern.kill()
            state = ledger(db)
            found = interim_problems(state, items + n * GROWTH)
            bad += len(found)
            print(f"kill {n + 1} after {delay:.1f} s: {describe(state)}", file=sys.stderr)
            for problem in found:
                print(f"  PROBLEM: {problem}", file=sys.stderr)
        items += (kills - 1) * GROWTH
        last = Lantern(cfg).start()
        try:
            await wait_for(lambda: settled(ledger(db), robot, items), 60, "settled", last)
            await asyncio.sleep(1.5)
        finally:
            last.stop()
        state = ledger(db)
        found = problems(state, robot, items)
        bad += len(found)
        print(f"settled: {describe(state)}", file=sys.stderr)
        for problem in found:
            print(f"  PROBLEM: {problem}", file=sys.stderr)
    await feed.close()
    await robot.close()
    return bad


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crash")
    parser.add_argument("--kills", type=int, default=10, help="random kills in part (b) (default 10)")
    parser.add_argument("--items", type=int, default=12, help="feed items (default 12)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    staged = await stages(args.items)
    randomly = await random_kills(args.kills, args.items, random.Random(args.seed))
    print(f"stage_problems={staged} random_kills={args.kills} random_problems={randomly}")
    if staged or randomly:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
