"""Crash tests with real processes: ``lantern serve`` on a temporary config, a real RSS feed server and a fake
DingTalk robot on 127.0.0.1, SIGKILL at a crash point (:mod:`monitor.faults`), restart, and the ledger checks.

Used by ``tests/test_crash_recovery.py`` (:class:`ChainRun`: one kill at every stage in turn) and
``benchmarks/crash.py`` (:class:`CrashRun`: each stage on a fresh database; kills at random moments).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.fixtures.alerts.helpers import Robot
from tests.support_servers import free_port

ROOT = Path(__file__).resolve().parent.parent
# Two stories, each told by several outlets, and reposts: enough to open incidents, group and count.
STORIES = (
    "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖，多名顾客食用后上吐下泻送医",
    "鲜味楼外卖吃出蟑螂，顾客投诉食物中毒住院，门店拒绝退款还辱骂消费者",
)


def feed_items(count: int) -> list[dict[str, str]]:
    out = []
    for i in range(count):
        story = STORIES[i % len(STORIES)]
        out.append({"guid": f"https://weibo.com/crash/{i}", "title": f"{story[:20]}…",
                    "text": f"{story}。网友{i}号爆料：第{i}家门店同样如此，太恶心了"})
    return out


def rss(items: list[dict[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(it['title'])}</title><description>{escape(it['text'])}</description>"
        f"<guid isPermaLink=\"false\">{it['guid']}</guid><link>{it['guid']}</link>"
        f"<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>" for it in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>鲜味楼</title>{body}'
            "</channel></rss>").encode()


class Feed:
    """A real RSS server on 127.0.0.1 answering the same page on every poll."""

    def __init__(self, items: list[dict[str, str]]) -> None:
        self.body = rss(items)
        self.hits = 0
        self._runner: web.AppRunner | None = None
        self.port = free_port()

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=self.body, content_type="application/rss+xml", charset="utf-8")

    async def start(self) -> Feed:
        app = web.Application()
        app.router.add_get("/feed", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def config(tmp: Path, feed: Feed, robot: Robot, port: int) -> Path:
    """A lantern.toml: one RSS source polled every second, alerts at once to the robot, escalation after ~1 s."""
    path = tmp / "lantern.toml"
    path.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}
log_level = "WARNING"

[storage]
path = "{tmp / 'lantern.db'}"

[monitor]
brands = ["鲜味楼"]

[incidents]
group_wait_s = 0
group_interval_s = 1
tick_s = 0.2
escalate_minutes = ["P1:0.02", "P2:0.02", "P3:0.02"]

[[sources]]
name = "weibo"
kind = "rss"
url = "{feed.url}"
interval_s = 1
query = "鲜味楼"

[[channels]]
name = "duty"
kind = "dingtalk"
url = "{robot.url('/level0')}?access_token=crash-duty"

[[channels]]
name = "managers"
kind = "dingtalk"
url = "{robot.url('/level1')}?access_token=crash-managers"

[[routes]]
name = "duty first"
level = 0
must_act = true
channels = ["duty"]

[[routes]]
name = "then managers"
level = 1
must_act = true
channels = ["managers"]
""", encoding="utf-8")
    return path


@dataclass
class Lantern:
    """One ``lantern serve`` process on ``config``; optionally frozen at a crash point."""

    config: Path
    crash_at: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    marker: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.config.parent / "serve.log"
        self.marker = self.config.parent / "crashed-at"

    def start(self) -> Lantern:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERN_")}
        env["PYTHONPATH"] = str(ROOT)
        self.marker.unlink(missing_ok=True)
        if self.crash_at:
            env.update(LANTERN_TEST_CRASH_AT=self.crash_at, LANTERN_TEST_CRASH_FILE=str(self.marker))
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "web", "serve", "--config", str(self.config)], cwd=self.config.parent,
                stdout=out, stderr=subprocess.STDOUT, env=env)
        return self

    async def frozen(self, within: float = 40.0) -> str:
        """Wait until the process stopped at its crash point; returns the point."""
        deadline = time.monotonic() + within
        while not self.marker.exists():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"lantern serve exited ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"crash point {self.crash_at} not reached:\n{self.tail()}")
            await asyncio.sleep(0.05)
        return self.marker.read_text(encoding="utf-8")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def ledger(db_path: Path) -> dict[str, Any]:
    """What the database says, read with a separate connection (the process may be running or dead)."""
    if not db_path.exists():
        return {"mentions": 0, "distinct": 0, "unannounced": 0, "incidents": {}, "deliveries": []}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        if "mentions" not in tables:
            return {"mentions": 0, "distinct": 0, "unannounced": 0, "incidents": {}, "deliveries": []}
        out: dict[str, Any] = {
            "mentions": one("select count(*) from mentions"),
            "distinct": one("select count(distinct source || '|' || external_id) from mentions"),
            "unclassified": one("select count(*) from mentions where classified_at is null"),
            "unannounced": one("select count(*) from mentions where notified_at is null"),
            "attached": one("select count(*) from mentions where incident_id is not null"),
        }
        out["incidents"] = {} if "incidents" not in tables else {
            row[0]: {"tier": row[1], "mention_count": row[2], "attached": row[3], "negative_count": row[4],
                     "attached_negative": row[5]}
            for row in conn.execute(
                "select i.id, i.tier, i.mention_count, (select count(*) from mentions m where m.incident_id = i.id), "
                "i.negative_count, (select count(*) from mentions m where m.incident_id = i.id "
                "and m.sentiment = 'negative') from incidents i order by i.id")}
        out["deliveries"] = [] if "alert_deliveries" not in tables else [
            dict(zip(("incident_id", "channel", "kind", "status"), row, strict=True)) for row in conn.execute(
                "select incident_id, channel, kind, status from alert_deliveries order by id")]
        return out
    finally:
        conn.close()


_INCIDENT = re.compile(r"/incidents/(\d+)|事件 #(\d+)|[Ii]ncident #(\d+)")


def alerted(robot: Robot, path: str) -> dict[int, int]:
    """Messages the robot received on ``path``, per incident id (from the incident link or title in the message)."""
    counts: dict[int, int] = {}
    for request in robot.requests:
        if request["path"] != path:
            continue
        text = json.dumps(request["json"], ensure_ascii=False)
        for found in {int(next(g for g in groups if g)) for groups in _INCIDENT.findall(text)}:
            counts[found] = counts.get(found, 0) + 1
    return counts


def settled(state: dict[str, Any], robot: Robot, expected: int) -> bool:
    """Every item stored, classified and announced; every paging incident alerted and escalated."""
    if state["mentions"] < expected or state["unannounced"] or not state["incidents"]:
        return False
    paging = [i for i, inc in state["incidents"].items() if inc["tier"] != "P4"]
    first, second = alerted(robot, "/level0"), alerted(robot, "/level1")
    return all(first.get(i) and second.get(i) for i in paging)


def problems(state: dict[str, Any], robot: Robot, expected: int) -> list[str]:
    """What breaks the promises: stored once, counted once, alerted at least once, escalation resumed."""
    out = []
    if state["mentions"] != expected or state["distinct"] != expected:
        out.append(f"{state['mentions']} mentions stored ({state['distinct']} distinct) for {expected} items")
    if state["unannounced"]:
        out.append(f"{state['unannounced']} mentions never announced")
    for incident_id, inc in state["incidents"].items():
        if inc["mention_count"] != inc["attached"] or inc["negative_count"] != inc["attached_negative"]:
            out.append(f"incident {incident_id}: mention_count {inc['mention_count']} / negative_count "
                       f"{inc['negative_count']} for {inc['attached']} / {inc['attached_negative']} attached")
    first, second = alerted(robot, "/level0"), alerted(robot, "/level1")
    for incident_id, inc in state["incidents"].items():
        if inc["tier"] == "P4":
            continue
        if not first.get(incident_id):
            out.append(f"incident {incident_id} ({inc['tier']}) never alerted")
        if not second.get(incident_id):
            out.append(f"incident {incident_id} ({inc['tier']}) never escalated")
    return out


async def wait_for(check: Callable[[], bool], within: float, what: str, lantern: Lantern) -> None:
    deadline = time.monotonic() + within
    while not check():
        if lantern.proc is not None and lantern.proc.poll() is not None:
            raise AssertionError(f"lantern serve exited ({lantern.proc.returncode}) before {what}:\n{lantern.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {within} s:\n{lantern.tail()}")
        await asyncio.sleep(0.1)


@dataclass
class ChainRun:
    """Crash after crash on one database: each restart is killed at the next point, the last one settles.

    Every point is reached on the way of one batch (nothing stored; stored, unclassified; the incident written,
    alert state not; alert state written, not announced; alert posted, not recorded), and each kill is followed
    by a check that nothing was stored or counted twice so far.
    """

    tmp: Path
    points: tuple[str, ...]
    items: int = 12
    states: list[tuple[str, dict[str, Any], tuple[int, int]]] = field(default_factory=list)

    async def run(self, robot: Robot, *, settle_timeout: float = 40.0) -> list[str]:
        feed = await Feed(feed_items(self.items)).start()
        db = self.tmp / "lantern.db"
        found: list[str] = []
        try:
            cfg = config(self.tmp, feed, robot, free_port())
            for point in self.points:
                lantern = Lantern(cfg, crash_at=point).start()
                try:
                    await lantern.frozen()
                finally:
                    lantern.kill()
                state = ledger(db)
                self.states.append((point, state, robot_counts(robot)))
                found += [f"after the kill at {point}: {p}" for p in interim_problems(state, self.items)]
            last = Lantern(cfg).start()
            try:
                await wait_for(lambda: settled(ledger(db), robot, self.items), settle_timeout,
                               "settled after the last restart", last)
                await asyncio.sleep(1.5)  # a further poll and tick or two: nothing may be added again
            finally:
                last.stop()
            state = ledger(db)
            self.states.append(("settled", state, robot_counts(robot)))
            return found + problems(state, robot, self.items)
        finally:
            await feed.close()

    def summary(self) -> str:
        return "\n".join(f"{point}: {describe(state)} robot(level0, level1)={robot}"
                         for point, state, robot in self.states)


def robot_counts(robot: Robot) -> tuple[int, int]:
    return sum(alerted(robot, "/level0").values()), sum(alerted(robot, "/level1").values())


def interim_problems(state: dict[str, Any], expected: int) -> list[str]:
    """What must hold at any moment, even right after a kill: nothing stored or counted twice."""
    out = []
    if state["mentions"] != state["distinct"] or state["mentions"] > expected:
        out.append(f"{state['mentions']} mentions stored ({state['distinct']} distinct) for {expected} items")
    for incident_id, inc in state["incidents"].items():
        if inc["mention_count"] != inc["attached"] or inc["negative_count"] != inc["attached_negative"]:
            out.append(f"incident {incident_id}: mention_count {inc['mention_count']} for {inc['attached']} attached")
    return out


def describe(state: dict[str, Any]) -> str:
    incs = state.get("incidents", {})
    pairs = ", ".join(f"#{i} {v['tier']} {v['mention_count']}/{v['attached']}" for i, v in incs.items())
    sent = sum(1 for d in state.get("deliveries", []) if d["status"] in ("sent", "acknowledged"))
    return (f"mentions={state.get('mentions', 0)} unclassified={state.get('unclassified', 0)} "
            f"unannounced={state.get('unannounced', 0)} incidents(count/attached)=[{pairs}] "
            f"deliveries={len(state.get('deliveries', []))} sent={sent}")


@dataclass
class CrashRun:
    """One scenario: start with a crash point, SIGKILL there, restart, wait until settled."""

    tmp: Path
    crash_at: str
    items: int = 12
    at_crash: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    robot_at_crash: tuple[int, int] = (0, 0)
    robot_after: tuple[int, int] = (0, 0)

    async def run(self, robot: Robot, *, settle_timeout: float = 40.0) -> list[str]:
        feed = await Feed(feed_items(self.items)).start()
        try:
            cfg = config(self.tmp, feed, robot, free_port())
            first = Lantern(cfg, crash_at=self.crash_at).start()
            try:
                await first.frozen()
            finally:
                first.kill()
            self.at_crash = ledger(self.tmp / "lantern.db")
            self.robot_at_crash = robot_counts(robot)
            second = Lantern(cfg).start()
            try:
                await wait_for(lambda: settled(ledger(self.tmp / "lantern.db"), robot, self.items), settle_timeout,
                               "settled after the restart", second)
                await asyncio.sleep(1.5)  # a further poll and tick or two: nothing may be added again
            finally:
                second.stop()
            self.after = ledger(self.tmp / "lantern.db")
            self.robot_after = robot_counts(robot)
            return problems(self.after, robot, self.items)
        finally:
            await feed.close()

    def summary(self) -> str:
        return (f"{self.crash_at}: at the kill {describe(self.at_crash)} robot={self.robot_at_crash} | settled "
                f"{describe(self.after)} robot(level0, level1)={self.robot_after}")
