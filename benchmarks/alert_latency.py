"""Alert latency of the real service: feed item -> DingTalk robot, and push ingest -> robot (issue 12).

    python -m benchmarks.alert_latency [--interval S] [--push N] [--base-port P]

Runs ``lantern serve`` as a separate process on a throw-away data directory,
with an RSS feed server and a fake DingTalk robot (both real HTTP servers on
127.0.0.1, in this process) and one route sending P1 to the robot.  Nothing
else is changed from the defaults: the RSS source sets no ``interval_s``
(``monitor.default_interval_s``, 300 s, with its default jitter), group wait
and tick are the defaults.  Measured:

* **start**: an item already in the feed when the service starts -> robot
  (the first poll at start, not after an interval); also shown: when the
  service first answered ``/healthz`` and the first poll relative to that;
* **feed worst case**: an item published right after a poll -> robot.  It
  waits for the next poll, so the target is ``interval + 2 s``; also shown is
  poll -> robot (what the service adds once it has fetched the item);
* **push**: ``POST /api/ingest`` -> robot, target <= 2 s, ``--push`` samples (8 s apart, within the
  robot's 20 messages a minute).

Each sample is its own story (a P1: central-media source, food safety and
exposure); it is resolved through the API once its alert arrived, so the
next one opens a new incident.  Readable lines go to stderr; the last line
(stdout) holds ``key=value`` pairs.  ``--interval`` sets the source's
interval for a quicker run (the default run takes about one interval).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web

PUSH_TOKEN = secrets.token_urlsafe(24)
# Each sample costs the robot two messages (the alert, then 已解决); DingTalk allows 20 a minute, and the
# service rightly holds what exceeds it, so samples are spaced to measure latency, not the budget.
PUSH_GAP_S = 8.0
STORIES = (
    "央视曝光：鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖，市场监管部门已介入调查，多名顾客食物中毒",
    "曝光！鲜味楼使用过期变质肉，后厨老鼠横行，顾客吃完上吐下泻住院，监管部门连夜查封",
    "央视记者暗访曝光鲜味楼：变质食材冲洗后再上桌，后厨蟑螂爬满灶台，顾客食物中毒，市场监管局已立案调查",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Feed:
    """An RSS feed whose items the benchmark publishes; remembers when it was polled."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, float]] = []  # (guid, text, published)
        self.polls: list[float] = []
        self.polled = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.polls.append(time.time())
        self.polled.set()
        entries = "".join(
            f"<item><title>{escape(text[:30])}</title><description>{escape(text)}</description>"
            f"<pubDate>{formatdate(at)}</pubDate><guid isPermaLink=\"false\">{guid}</guid>"
            f"<link>https://news.example.com/{guid}</link><author>央视新闻</author></item>"
            for guid, text, at in self.items)
        body = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>央视新闻</title>'
                f"{entries}</channel></rss>")
        return web.Response(text=body, content_type="application/rss+xml")

    def publish(self, marker: str, text: str) -> float:
        at = time.time()
        self.items.insert(0, (marker, f"【{marker}】{text}", at))
        return at


class Robot:
    """A fake DingTalk robot: answers errcode 0 and notes when each sample's alert arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.bodies: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        at = time.time()
        body = await request.json()
        self.bodies.append(body)
        text = json.dumps(body, ensure_ascii=False)
        for marker in _markers(text):
            self.arrived.setdefault(marker, at)
        self.changed.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def wait(self, marker: str, within: float) -> float:
        deadline = time.monotonic() + within
        while marker not in self.arrived:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no alert for {marker} within {within:.0f} s")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=left)
            except TimeoutError:
                pass
        return self.arrived[marker]


def _markers(text: str) -> list[str]:
    found, start = [], 0
    while (i := text.find("样本", start)) >= 0:
        end = i + 2
        while end < len(text) and (text[end].isascii() and text[end].isalnum()):
            end += 1
        found.append(text[i:end])
        start = end
    return found


def config(tmp: Path, port: int, feed_url: str, robot_url: str, interval: float | None) -> Path:
    source = {"name": "央视新闻", "kind": "rss", "url": feed_url}
    if interval is not None:
        source["interval_s"] = interval  # type: ignore[assignment]
    lines = [
        "[server]", f"port = {port}", 'host = "127.0.0.1"', "",
        "[storage]", f"path = {json.dumps(str(tmp / 'lantern.db'))}", "",
        "[auth]", f'secret_key = "{secrets.token_hex(16)}"', "",
        "[monitor]", 'brands = ["鲜味楼"]', "",
        "[[sources]]", *(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in source.items()), "",
        "[[sources]]", 'name = "央视新闻客户端"', 'kind = "push"', f'token = "{PUSH_TOKEN}"', "",
        "[[channels]]", 'name = "crisis-dingtalk"', 'kind = "dingtalk"', f'url = "{robot_url}"', "",
        "[[routes]]", 'name = "P1 robot"', 'tiers = ["P1"]', 'channels = ["crisis-dingtalk"]', "must_act = true", "",
    ]
    path = tmp / "lantern.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def lantern(cfg: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "web", *args, "--config", str(cfg)], input=stdin,  # noqa: S603
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


async def start_server(handler: Any, path: str, port: int, method: str = "GET") -> web.AppRunner:
    app = web.Application()
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def wait_ready(http: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> float:
    """When the service first answered /healthz (its start-up: imports, model, migrations, then the scheduler)."""
    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError(f"lantern serve exited with {proc.returncode}")
        try:
            async with http.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return time.time()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError("lantern serve did not answer /healthz within 60 s")


async def resolve_all(http: aiohttp.ClientSession, base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{base}/api/incidents?state=open", headers=headers) as resp:
        items = (await resp.json())["items"]
    for inc in items:
        async with http.post(f"{base}/api/incidents/{inc['id']}/resolve", headers=headers) as resp:
            await resp.read()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base_port = args.base_port
    ports = [base_port, base_port + 1, base_port + 2] if base_port else [free_port(), free_port(), free_port()]
    feed, robot = Feed(), Robot()
    runners = [await start_server(feed.handle, "/feed.xml", ports[1]),
               await start_server(robot.handle, "/robot/send", ports[2], "POST")]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cfg = config(tmp, ports[0], f"http://127.0.0.1:{ports[1]}/feed.xml",
                     f"http://127.0.0.1:{ports[2]}/robot/send?access_token=bench", args.interval)
        lantern(cfg, "user", "add", "bench", "--role", "manager", "--password-stdin", stdin="bench-password-1\n")
        token = lantern(cfg, "token", "create", "bench").strip().split()[-1]
        feed.publish("样本S", STORIES[0])
        log = (tmp / "serve.log").open("w")
        spawned = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "web", "serve", "--config", str(cfg)],  # noqa: S603,ASYNC220
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{ports[0]}"
        try:
            async with aiohttp.ClientSession() as http:
                interval = args.interval or 300.0
                ready = await wait_ready(http, base, proc)
                # -- start: an item in the feed before the service ran
                arrived = await robot.wait("样本S", within=float(os.environ.get("BENCH_START_TIMEOUT", 120)))
                first_poll = feed.polls[0]
                print(f"start: process spawned -> robot {arrived - spawned:.2f} s (serving {ready - spawned:.2f} s "
                      f"after spawn, first poll {first_poll - ready:+.2f} s from then; poll -> robot "
                      f"{arrived - first_poll:.2f} s)", file=sys.stderr, flush=True)
                results.update(start_to_robot_s=round(arrived - spawned, 2),
                               ready_to_first_poll_s=round(first_poll - ready, 2),
                               start_poll_to_robot_s=round(arrived - first_poll, 2))
                await resolve_all(http, base, token)
                # -- feed worst case: published right after a poll
                worst, after_poll = [], []
                for n in range(args.feed):
                    feed.polled.clear()
                    await asyncio.wait_for(feed.polled.wait(), timeout=interval + 60)
                    marker = f"样本F{n}"
                    published = feed.publish(marker, STORIES[(n + 1) % len(STORIES)] + f"（第{n}例）")
                    arrived = await robot.wait(marker, within=interval + 120)
                    poll = next(p for p in feed.polls if p > published)
                    worst.append(arrived - published)
                    after_poll.append(arrived - poll)
                    print(f"feed: published right after a poll -> robot {arrived - published:.2f} s "
                          f"(interval {interval:.0f} s; poll -> robot {arrived - poll:.2f} s)",
                          file=sys.stderr, flush=True)
                    await resolve_all(http, base, token)
                if worst:
                    results.update(feed_worst_s=round(max(worst), 2), feed_interval_s=interval,
                                   feed_over_interval_s=round(max(worst) - interval, 2),
                                   feed_poll_to_robot_s=round(max(after_poll), 2))
                # -- push
                pushes = []
                for n in range(args.push):
                    marker = f"样本P{n}"
                    item = {"id": marker, "title": f"【{marker}】{STORIES[n % len(STORIES)][:30]}",
                            "text": f"【{marker}】{STORIES[n % len(STORIES)]}（推送第{n}例）", "author": "央视新闻"}
                    sent = time.time()
                    async with http.post(f"{base}/api/ingest", json=[item],
                                         headers={"X-Lantern-Source-Token": PUSH_TOKEN}) as resp:
                        if resp.status >= 300:
                            raise RuntimeError(f"ingest answered {resp.status}: {await resp.text()}")
                    arrived = await robot.wait(marker, within=30)
                    pushes.append(arrived - sent)
                    await resolve_all(http, base, token)
                    await asyncio.sleep(PUSH_GAP_S)
                if pushes:
                    print(f"push: POST /api/ingest -> robot p50 {statistics.median(pushes):.2f} s, "
                          f"max {max(pushes):.2f} s (n={len(pushes)})", file=sys.stderr, flush=True)
                    results.update(push_p50_s=round(statistics.median(pushes), 2), push_max_s=round(max(pushes), 2))
        except Exception:
            log.flush()
            print((tmp / "serve.log").read_text(encoding="utf-8")[-4000:], file=sys.stderr)
            print(f"feed polled {len(feed.polls)} times; robot got {len(robot.bodies)} messages", file=sys.stderr)
            if os.environ.get("BENCH_DEBUG"):
                import sqlite3
                db = sqlite3.connect(tmp / "lantern.db")
                for sql in ("select id, source, title, tier, categories, reasons, incident_id from mentions",
                            "select id, title, tier, state from incidents",
                            "select id, incident_id, recipient, channel, status, last_error from alert_deliveries"):
                    print(sql, db.execute(sql).fetchall(), file=sys.stderr)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            for runner in runners:
                await runner.cleanup()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=None,
                        help="the RSS source's interval_s (default: not set, i.e. monitor.default_interval_s)")
    parser.add_argument("--feed", type=int, default=1, help="worst-case feed samples (each takes one interval)")
    parser.add_argument("--push", type=int, default=5, help="push samples")
    parser.add_argument("--base-port", type=int, default=0,
                        help="service on P, feed on P+1, robot on P+2 (default: free ports)")
    results = asyncio.run(run(parser.parse_args()))
    ok = (results.get("start_poll_to_robot_s", 99) <= 2 and results.get("feed_over_interval_s", 0) <= 2
          and results.get("push_max_s", 0) <= 2)
    print(" ".join(f"{k}={v}" for k, v in {**results, "targets_met": ok}.items()), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
