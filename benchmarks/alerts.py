"""Benchmark of the incident and alert path (not a test; run by hand).

    python -m benchmarks.alerts

Measures: grouping throughput (mentions/s into existing open incidents), one
planning+sending tick for many incidents to console recipients, the latency
from a new incident to a local webhook receiver with group_wait 0 and the
engine's real timer loop running, and the replay of the packaged demo crisis
(monitor/demo/stream.jsonl) through the real pipeline, classifier and incident
engine: incidents opened, the main incident's size and tier; and grouping quality on the labelled
two-brand stream (tests/fixtures/grouping/streams.jsonl: six stories, reposts, hashtags, rewordings,
chatter) as pairwise precision/recall and B-cubed, record by record and polled every 60 s.  Readable lines
go to stderr; the last line (stdout) holds ``key=value`` pairs.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fixtures.alerts.helpers import Clock, add_user, make_services, settings_for, store_mention

Result = tuple[str, dict[str, Any]]


def title(i: int, variant: int = 0) -> str:
    """Story ``i`` (its own product codes) as reported the ``variant``-th time; the common words weigh little."""
    return f"lot{i}a sku{i}b 鲜味楼 {'跟进' if variant else '首发'}"


async def grouping(tmp: Path) -> Result:
    svc = await make_services(settings_for(tmp / "g"), Clock())
    try:
        for i in range(200):
            await svc.incidents.on_mentions([await store_mention(svc, title=title(i), tier="P3")])
        batches = []
        for b in range(40):
            batches.append([await store_mention(svc, title=title((b * 50 + j) % 200, 1), tier="P3")
                            for j in range(50)])
        start = time.perf_counter()
        for batch in batches:
            await svc.incidents.on_mentions(batch)
        elapsed = time.perf_counter() - start
    finally:
        await svc.alerts.stop()
        svc.db.close()
    return (f"grouping: 2000 mentions into 200 open incidents in {elapsed:.2f} s ({2000 / elapsed:.0f} mentions/s)",
            {"grouping_mentions_per_s": round(2000 / elapsed)})


async def planning(tmp: Path) -> Result:
    svc = await make_services(settings_for(tmp / "p", incidents__group_wait_s=0), Clock())
    try:
        for n in range(20):
            await add_user(svc, f"m{n}", "manager")
        for i in range(500):
            await svc.incidents.on_mentions([await store_mention(svc, title=title(i), tier="P2")])
        start = time.perf_counter()
        report = await svc.alerts.tick()
        elapsed = time.perf_counter() - start
    finally:
        await svc.alerts.stop()
        svc.db.close()
    return (f"tick: 500 new P2 incidents x 20 must-act managers = {report.planned} deliveries planned and "
            f"{report.sent.sent} sent (console) in {elapsed:.2f} s",
            {"tick_deliveries": report.planned, "tick_s": round(elapsed, 2)})


async def latency(tmp: Path) -> Result:
    got: dict[int, float] = {}
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        got[(await request.json())["incident_id"]] = time.perf_counter()
        arrived.set()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    svc = await make_services(settings_for(tmp / "l", incidents__group_wait_s=0, incidents__tick_s=1.0,
                                           channels=[{"name": "h", "kind": "webhook",
                                                      "url": str(server.make_url("/hook"))}],
                                           routes=[{"channels": ["h"]}]), time.time)  # type: ignore[arg-type]
    await svc.start()
    samples = []
    try:
        for i in range(30):
            m = await store_mention(svc, title=title(i), tier="P1")
            start = time.perf_counter()
            iid = (await svc.incidents.on_mentions([m]))[0].incident_id
            while iid not in got:
                await asyncio.wait_for(arrived.wait(), timeout=10)
                arrived.clear()
            samples.append((got[iid] - start) * 1000)
    finally:
        await svc.stop()
        svc.db.close()
        await server.close()
    samples.sort()
    p50, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
    return (f"latency new incident -> webhook received: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"max {samples[-1]:.1f} ms (n=30)", {"latency_p50_ms": round(p50, 1), "latency_p95_ms": round(p95, 1)})


async def demo(tmp: Path) -> Result:
    from classifiers import Classifier
    from monitor.incidents import schema
    from monitor.schema import migrations
    from tests.fixtures.alerts.demo_replay import crisis_start, replay
    from web.platform.storage import Database

    classifier = Classifier.load()
    db = Database(tmp / "demo" / "l.db")
    try:
        db.migrate([migrations, schema.migrations])
        start = time.perf_counter()
        rows = await replay(db, classifier, poll_s=2)
        elapsed = time.perf_counter() - start
        incidents = await db.read(lambda d: list(d.query("select id, tier, mention_count, title from incidents")))
    finally:
        db.close()
    begin = crisis_start()
    crisis = [r for r in rows if float(json.loads(r["raw"])["offset_s"]) >= begin]
    counts = Counter(r["incident_id"] for r in crisis if r["incident_id"])
    main_id, main_size = counts.most_common(1)[0] if counts else (None, 0)
    main_tier = next((i["tier"] for i in incidents if i["id"] == main_id), "-")
    background = len({r["incident_id"] for r in rows if r["incident_id"] and r not in crisis})
    detail = "; ".join(f"#{i['id']} {i['tier']} x{i['mention_count']} {i['title'][:24]}" for i in incidents)
    return (f"demo crisis replay ({len(rows)} mentions in {elapsed:.2f} s): {len(incidents)} incidents opened, "
            f"main {main_tier} holds {main_size}/{len(crisis)} crisis mentions, background opened {background} "
            f"[{detail}]",
            {"demo_incidents": len(incidents), "demo_main_tier": main_tier, "demo_main_mentions": main_size,
             "demo_crisis_mentions": len(crisis), "demo_background_incidents": background,
             "demo_replay_s": round(elapsed, 2)})


async def quality(tmp: Path) -> Result:
    from classifiers import Classifier
    from monitor.incidents import schema
    from monitor.schema import migrations
    from tests.fixtures.grouping import replay as grouping_replay
    from web.platform.storage import Database

    classifier = Classifier.load(brands=list(grouping_replay.BRANDS))
    records = grouping_replay.load(grouping_replay.FULL)
    lines, values = [], {}
    for poll_s in (0, 60):
        db = Database(tmp / f"quality{poll_s}" / "l.db")
        try:
            db.migrate([migrations, schema.migrations])
            out = await grouping_replay.replay(db, classifier, records, poll_s)
        finally:
            db.close()
        scores = grouping_replay.score(grouping_replay.gold_of(records), out["assigned"])
        stories = sum(1 for r in {r["story"] for r in records} if r)
        lines.append(f"grouping quality ({len(records)} posts, {stories} stories, poll {poll_s} s): {scores.line()}, "
                     f"{len(out['incidents'])} incidents")
        if poll_s == 60:
            values = {"pairwise_precision": round(scores.pairwise_precision, 3),
                      "pairwise_recall": round(scores.pairwise_recall, 3),
                      "bcubed_precision": round(scores.bcubed_precision, 3),
                      "bcubed_recall": round(scores.bcubed_recall, 3), "quality_incidents": len(out["incidents"])}
    return "\n".join(lines), values


async def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bench in (demo, quality, grouping, planning, latency):
            line, values = await bench(Path(tmp))
            print(line, file=sys.stderr, flush=True)
            results.update(values)
    print(" ".join(f"{k}={v}" for k, v in results.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
