"""Ingestion benchmark: ``python -m benchmarks.ingest [--quick] [--duration S] [--sources N] [--interval S]``.

(a) **throughput**: feed bytes -> parsed -> brand query -> deduped and stored
    (SQLite, WAL, the single writer) -> classified (the shipped classifier)
    -> announced, measured over many RSSHub-shaped feeds of realistic posts;
    also the SimHash rate of character shingles vs jieba tokens.
(b) **schedule**: N sources (default 500) served by a separate process on
    127.0.0.1, polled by the real scheduler at ``--interval`` (default 60 s)
    for ``--duration`` (default 180 s); lateness = poll start - scheduled time.

The last line is ``key=value`` pairs (``mentions_per_s=``, ``p99_lateness_s=``, ...).
Targets on a 2-core machine: >= 2,000 mentions/s, p99 lateness < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from monitor.config import Defaults
from monitor.mentions import StoredMention
from monitor.query import Query
from monitor.schema import migrations
from monitor.service import MonitorService
from monitor.simhash import simhash
from monitor.sources.demo import load_stream
from monitor.sources.rss import parse_feed
from web.auth import schema as auth_schema
from web.platform.storage import Database


def _texts(n: int, rng: random.Random) -> list[str]:
    """Realistic, mostly distinct posts: demo-stream sentences mixed with per-post details."""
    base = [r["text"] for r in load_stream()]
    out = []
    for i in range(n):
        a, b = rng.sample(base, 2)
        out.append(f"{a[: rng.randint(20, 80)]} 订单号{rng.randint(10**7, 10**8)}，{b[: rng.randint(10, 60)]} 第{i}条")
    return out


def rss_feed(feed_id: int, texts: list[str], start: int) -> bytes:
    items = "".join(
        f"<item><title><![CDATA[{t[:24]}...]]></title><description><![CDATA[{escape(t)}<br><img src=\"https://"
        f"wx1.sinaimg.cn/large/{feed_id}_{start + i}.jpg\">]]></description><pubDate>Mon, 23 Nov 2026 08:"
        f"{i % 60:02d}:00 GMT</pubDate><guid isPermaLink=\"false\">https://weibo.com/{feed_id}/{start + i}</guid>"
        f"<link>https://weibo.com/{feed_id}/{start + i}</link><author><![CDATA[user{i}]]></author></item>"
        for i, t in enumerate(texts))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>又有人在微博提到鲜味楼了'
            f"</title><generator>RSSHub</generator>{items}</channel></rss>").encode()


def _open_db(path: Path) -> Database:
    db = Database(path)
    db.migrate([auth_schema.migrations, migrations])
    return db


def _classifier() -> Any:
    from classifiers import Classifier

    return Classifier.load()


async def throughput(n_feeds: int, per_feed: int, concurrency: int = 4) -> dict[str, float]:
    rng = random.Random(7)
    texts = _texts(n_feeds * per_feed, rng)
    feeds = [rss_feed(f, texts[f * per_feed:(f + 1) * per_feed], 0) for f in range(n_feeds)]
    announced = 0

    async def on_new(batch: list[StoredMention]) -> None:
        nonlocal announced
        announced += len(batch)

    with tempfile.TemporaryDirectory() as tmp:
        db = _open_db(Path(tmp) / "bench.db")
        service = MonitorService(db, _classifier(), time.time, sources=[], on_new_mentions=on_new)
        await service.start(schedule=False)
        pipeline, query = service.pipeline, Query("鲜味楼 OR 外卖 OR 订单号")
        stored = 0
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, body: bytes) -> None:
            # The path of one poll's page: parse -> brand query -> store -> classify -> announce.
            nonlocal stored
            async with gate:
                mentions = parse_feed(body, source=f"feed{i % 20}", now=time.time(), tz=service.tz).mentions
                outcome = await pipeline.store_page([m for m in mentions if query.matches(m.content)])
                await pipeline.classify_and_announce(outcome.stored)
                stored += len(outcome.stored)

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i, body) for i, body in enumerate(feeds)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await service.stop()
        unclassified = db.read_sync(lambda d: d.execute(
            "SELECT count(*) FROM mentions WHERE classified_at IS NULL").fetchone()[0])
        near = db.read_sync(lambda d: d.execute(
            "SELECT count(*) FROM mentions WHERE duplicate_of IS NOT NULL").fetchone()[0])
        db.close()
    assert unclassified == 0 and announced == stored
    sample = texts[:2000]
    t0 = time.perf_counter()
    for t in sample:
        simhash(t)
    shingle_rate = len(sample) / (time.perf_counter() - t0)
    import jieba

    jieba.setLogLevel(60)
    jieba.lcut("预热")
    t0 = time.perf_counter()
    for t in sample:
        jieba.lcut(t)
    jieba_rate = len(sample) / (time.perf_counter() - t0)
    return {"mentions_per_s": stored / elapsed, "mentions_per_cpu_s": stored / cpu, "stored": stored,
            "near_duplicates": near,
            "simhash_shingles_per_s": shingle_rate, "jieba_tokenize_only_per_s": jieba_rate}


def _serve(port: int, n: int, ready: Any) -> None:
    """The feed server (separate process): each feed gains a post every ~2 minutes; ETag per version."""
    from aiohttp import web

    texts = _texts(400, random.Random(3))

    async def feed(request: web.Request) -> web.Response:
        fid = int(request.match_info["n"])
        version = int((time.time() + fid * 7) // 120)
        etag = f'"{fid}-{version}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        start = version % 350
        body = rss_feed(fid, texts[start:start + 20], version * 20)
        return web.Response(body=body, headers={"ETag": etag}, content_type="application/rss+xml", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/weibo/keyword/{n}", feed)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def schedule(n: int, interval: float, duration: float) -> dict[str, float]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(port, n, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("feed server did not start")
        sources = [{"name": f"wb{i}", "kind": "rss", "url": f"http://127.0.0.1:{port}/weibo/keyword/{i}",
                    "interval_s": interval, "query": "鲜味楼 OR 外卖"} for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            db = _open_db(Path(tmp) / "sched.db")
            service = MonitorService(db, _classifier(), time.time, sources=sources,
                                     defaults=Defaults(per_host_concurrency=8))
            await service.start()
            await asyncio.sleep(duration)
            await service.stop()
            polls = db.read_sync(lambda d: d.execute(
                "SELECT count(*), sum(consecutive_failures > 0) FROM source_state").fetchone())
            stored = db.read_sync(lambda d: d.execute("SELECT count(*) FROM mentions").fetchone()[0])
            db.close()
    finally:
        server.terminate()
        server.join(10)
    late = sorted(service.lateness) or [0.0]
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
    return {"polls": len(late), "sources_polled": polls[0], "failing_sources": polls[1] or 0,
            "scheduled_stored": stored, "p50_lateness_s": statistics.median(late), "p99_lateness_s": p99,
            "max_lateness_s": late[-1]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small run: 20 s, 15 s interval, fewer feeds")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of scheduled polling (default 180)")
    parser.add_argument("--sources", type=int, default=500, help="sources to schedule (default 500)")
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval in seconds (default 60)")
    parser.add_argument("--only", choices=("throughput", "schedule"), help="run one part only")
    args = parser.parse_args(argv)
    duration, interval, feeds = args.duration, args.interval, 100
    if args.quick:
        duration, interval, feeds = 20.0, 15.0, 25
    a: dict[str, float] = {}
    b: dict[str, float] = {}
    if args.only != "schedule":
        a = asyncio.run(throughput(feeds, 200))
        _report_a(a)
    if args.only != "throughput":
        b = asyncio.run(schedule(args.sources, interval, duration))
        print(f"(b) schedule: {args.sources} sources every {interval:g} s for {duration:g} s: {b['polls']:.0f} polls, "
              f"lateness p50 {b['p50_lateness_s']:.3f} s, p99 {b['p99_lateness_s']:.3f} s, "
              f"max {b['max_lateness_s']:.3f} s", flush=True)
    pairs = {**a, **b, "sources": args.sources, "interval_s": interval, "duration_s": duration}
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in pairs.items()))


def _report_a(a: dict[str, float]) -> None:
    print(f"(a) throughput: {a['mentions_per_s']:.0f} mentions/s stored+classified+announced "
          f"({a['mentions_per_cpu_s']:.0f} per CPU-second of this process) "
          f"({a['stored']:.0f} mentions, {a['near_duplicates']:.0f} linked as reposts); SimHash "
          f"{a['simhash_shingles_per_s']:.0f} texts/s with char shingles vs {a['jieba_tokenize_only_per_s']:.0f} "
          f"texts/s for jieba tokenising alone", flush=True)


if __name__ == "__main__":
    main()
