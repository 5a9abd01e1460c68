"""Incident page benchmark: how long the page's API takes on a large incident.

    python -m benchmarks.incident_page --mentions 20000 --rounds 20

Builds one incident of ``--mentions`` mentions over six hours (a third of them
near-duplicate reposts of a few originals, many authors) on a real SQLite
file, through the real incident engine, then times over the in-process app
(aiohttp test client, token auth): the detail (why the tier, history,
timeline, top authors and sources, checklist, deliveries), the first mention
page and a deep page (``?before=``), and one group's reposts.  The last line
is ``key=value`` pairs (milliseconds, p50 and p95).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from monitor.mentions import content_hash
from web.app import create_app
from web.auth import users
from web.compose import Part, build_services
from web.platform.settings import load_settings

STORY = "鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"


async def build(directory: Path, mentions: int) -> tuple[Any, int, str]:
    start = time.time() - 6 * 3600
    settings = load_settings(env={}).with_overrides(storage__path=str(directory / "bench.db"),
                                                    monitor__enabled=False)
    services = await build_services(settings, clock=time.time, parts={Part.ALERTS})

    def rows(db: Any) -> list[int]:
        table = db.table("mentions")
        originals: list[int] = []
        ids = []
        for i in range(mentions):
            at = start + i * (6 * 3600 / mentions)
            repost = originals and i % 3 == 0
            table.insert({"source": f"src{i % 7}", "external_id": f"m{i}", "url": f"https://example.com/{i}",
                          "url_norm": f"https://example.com/{i}", "content_hash": content_hash(f"{STORY}{i}"),
                          "duplicate_of": originals[i % len(originals)] if repost else None,
                          "author": f"author{i % 900}", "author_reach": (i * 7919) % 5_000_000,
                          "published_at": at, "fetched_at": at, "title": f"{STORY} #{i}", "text": STORY,
                          "raw": "{}", "sentiment": "negative" if i % 4 else "neutral",
                          "negative_probability": 0.9 if i % 4 else 0.3, "categories": '["food_safety"]',
                          "tier": "P3", "reasons": "[]", "classified_at": at, "notified_at": at})
            ids.append(int(table.last_pk))
            if not repost and len(originals) < 50:
                originals.append(ids[-1])
        return ids

    ids = await services.db.write(rows)
    from monitor.incidents.admission import from_row

    def load(db: Any) -> list[Any]:
        marks = ",".join("?" for _ in ids)
        return [from_row(r) for r in db.query(f"select * from mentions where id in ({marks}) order by id", ids)]

    stored = await services.db.read(load)
    incident_ids: set[int] = set()
    for chunk in range(0, len(stored), 500):
        incident_ids |= {c.incident_id for c in await services.incidents.on_mentions(stored[chunk:chunk + 500])}
    now = datetime.now(UTC).timestamp()
    token = await services.db.write(lambda db: users.create_token(
        db, users.add_user(db, "bench", "manager", "bench-password-0123", now=now), "bench", now=now))
    assert len(incident_ids) == 1, f"the story split into incidents {sorted(incident_ids)}"
    (incident,) = incident_ids
    return services, incident, token


async def timed(client: TestClient, path: str, token: str, rounds: int) -> tuple[list[float], Any]:
    times, body = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        resp = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        body = await resp.json()
        assert resp.status == 200, body
        times.append((time.perf_counter() - started) * 1000)
    return times, body


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def run(mentions: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        services, incident, token = await build(Path(tmp), mentions)
        client = TestClient(TestServer(create_app(services, manage_lifecycle=False), host="127.0.0.1"))
        await client.start_server()
        try:
            detail_t, detail = await timed(client, f"/api/incidents/{incident}", token, rounds)
            first_t, first = await timed(client, f"/api/incidents/{incident}/mentions?limit=20", token, rounds)
            deep = first["next_before"]
            for _ in range(10):  # ten pages further back
                page = (await timed(client, f"/api/incidents/{incident}/mentions?limit=20&before={deep}", token, 1))[1]
                deep = page["next_before"] or deep
            deep_t, _ = await timed(client, f"/api/incidents/{incident}/mentions?limit=20&before={deep}", token, rounds)
            group = next(m["group"] for m in first["items"] + page["items"] if m["reposts"]) if any(
                m["reposts"] for m in first["items"] + page["items"]) else first["items"][0]["group"]
            reposts_t, _ = await timed(client, f"/api/incidents/{incident}/mentions/{group}/reposts", token, rounds)
            print(f"incident {incident}: {detail['mention_count']} mentions, tier {detail['tier']}, "
                  f"{len(detail['timeline'])} buckets of {detail['timeline_window']['bucket_s']} s, "
                  f"{first['groups']} groups; detail {len(json.dumps(detail)) // 1024} KB")
        finally:
            await client.close()
            await services.alerts.stop()
            services.db.close()
    return {"mentions": mentions, "detail_p50_ms": p(detail_t, 50), "detail_p95_ms": p(detail_t, 95),
            "page_p50_ms": p(first_t, 50), "deep_page_p50_ms": p(deep_t, 50), "reposts_p50_ms": p(reposts_t, 50)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(run(args.mentions, args.rounds))
    print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
