"""The push-ingest rate limit: a token bucket per source, on the injected clock (no sleeping)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support_monitor import Clock, FakeClassifier, monitor_client, open_db
from web.api.mentions import INGEST_BUCKETS
from web.compose import Part, build_services
from web.platform.ratelimit import TokenBuckets, retry_after_header
from web.platform.settings import Settings, load_settings

TOKEN_A = "push-token-a-0123456789abcdef"
TOKEN_B = "push-token-b-0123456789abcdef"


def item(n: int) -> dict[str, Any]:
    return {"id": f"m{n}", "text": f"鲜味楼 第 {n} 条投诉：菜里有异物", "url": f"https://example.com/{n}"}


Api = tuple[TestClient, Clock, Any]


@pytest.fixture
async def make_api(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Callable[..., Any]]:
    dbs: list[Any] = []

    async def make(**overrides: Any) -> Api:
        clock = Clock()
        base = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False,
                                                    **overrides)
        settings = Settings(base.as_dict(), {**base.lists, "sources": [
            {"name": "hook-a", "kind": "push", "token": TOKEN_A, "query": "鲜味楼"},
            {"name": "hook-b", "kind": "push", "token": TOKEN_B, "query": "鲜味楼"},
        ]}, None)
        db = open_db(tmp_path / "l.db")
        dbs.append(db)
        services = await build_services(settings, clock=clock, db=db,
                                        parts={Part.MONITOR}, classifier=FakeClassifier())
        client = await monitor_client(aiohttp_client, services)
        return client, clock, db

    yield make
    for db in dbs:
        db.close()


def stored(db: Any, source: str) -> list[str]:
    return [r["external_id"] for r in db.read_sync(lambda d: list(d.query(
        "select external_id from mentions where source = ? order by id", [source])))]


async def push(client: TestClient, token: str, items: list[dict[str, Any]]) -> Any:
    return await client.post("/api/ingest", json={"items": items}, headers={"X-Lantern-Source-Token": token})


async def test_over_the_limit_is_429_with_retry_after_and_nothing_lost(make_api: Any) -> None:
    client, clock, db = await make_api(monitor__ingest_per_minute=3)
    for n in range(3):
        assert (await push(client, TOKEN_A, [item(n)])).status == 200
    refused = await push(client, TOKEN_A, [item(3), item(4)])
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "20"  # 3 a minute: one token every 20 s
    body = await refused.json()
    assert body["error"] == "rate_limited" and body["retry_after"] == 20
    assert "推送过于频繁" in body["message"] and "too many pushes" in body["message"] and "hook-a" in body["message"]
    assert stored(db, "hook-a") == ["m0", "m1", "m2"]  # the refused batch is not stored, the earlier ones are

    clock.advance(10)
    again = await push(client, TOKEN_A, [item(3)])
    assert again.status == 429 and again.headers["Retry-After"] == "10"
    clock.advance(10)
    assert (await push(client, TOKEN_A, [item(3), item(4)])).status == 200  # the client retried: all kept
    assert (await push(client, TOKEN_A, [item(5)])).status == 429
    assert stored(db, "hook-a") == ["m0", "m1", "m2", "m3", "m4"]

    clock.advance(60)  # a quiet minute refills up to the burst, not beyond
    assert [(await push(client, TOKEN_A, [])).status for _ in range(4)] == [200, 200, 200, 429]


async def test_each_source_has_its_own_bucket_and_unknown_tokens_count_for_none(make_api: Any) -> None:
    client, _, db = await make_api(monitor__ingest_per_minute=2)
    for _ in range(20):  # anyone can send bad tokens; they must not drain a real source's bucket
        assert (await push(client, "wrong-token-0123456789", [item(0)])).status == 401
        assert (await client.post("/api/ingest", json=[item(0)],
                                  headers={"Authorization": f"Bearer {TOKEN_A}x"})).status == 401
    assert (await push(client, TOKEN_A, [item(1)])).status == 200
    assert (await push(client, TOKEN_A, [item(2)])).status == 200
    assert (await push(client, TOKEN_A, [item(3)])).status == 429
    assert (await push(client, TOKEN_B, [item(7)])).status == 200  # another source is unaffected
    assert stored(db, "hook-a") == ["m1", "m2"] and stored(db, "hook-b") == ["m7"]


async def test_default_limit_and_zero_means_no_limit(make_api: Any) -> None:
    client, _, _ = await make_api()
    buckets = client.app[INGEST_BUCKETS]
    assert buckets.per_minute == 120 and buckets.burst == 120
    client, _, _ = await make_api(monitor__ingest_per_minute=0)
    assert [(await push(client, TOKEN_A, [])).status for _ in range(30)] == [200] * 30


def test_token_bucket_refills_gradually_and_never_beyond_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(120, clock=clock)
    assert [buckets.take("s") for _ in range(120)] == [0.0] * 120  # burst equal to the rate
    assert buckets.take("s") == pytest.approx(0.5)
    clock.advance(0.25)
    assert buckets.take("s") == pytest.approx(0.25)
    clock.advance(0.25)
    assert buckets.take("s") == 0.0
    clock.advance(3600)
    assert sum(buckets.take("s") == 0.0 for _ in range(200)) == 120
    clock.now -= 30  # the clock stepping back neither refills nor drains
    assert buckets.take("s") > 0
    assert retry_after_header(0.01) == "1" and retry_after_header(20.0) == "20" and retry_after_header(20.2) == "21"


def test_full_buckets_are_forgotten_when_the_table_is_full() -> None:
    clock = Clock()
    buckets = TokenBuckets(60, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        buckets.take(key)
    clock.advance(2)  # a, b, c are full again
    buckets.take("d")
    assert set(buckets._buckets) == {"d"}
    for _ in range(60):
        buckets.take("d")
    assert buckets.take("d") > 0  # the busy key keeps its state
