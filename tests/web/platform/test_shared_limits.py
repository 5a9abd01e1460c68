"""Robot budgets and push-ingest limits shared by several nodes through the real Redis on 127.0.0.1:6379.

Two :class:`RedisLimits` (two "nodes") on one Redis allow one limit between them; with Redis unreachable
each node falls back to its own in-process budget, logs it once, and alerts still go out.  A private
``redis-server`` that is stopped and started again shows the fallback and the way back.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from infra.redis import RedisLink
from monitor.alerting import outbox
from monitor.alerting.outbox import list_deliveries
from monitor.alerting.routing import Recipient
from monitor.channels.budget import SharedBudget
from monitor.shared_limits import RedisLimits
from tests.fixtures.alerts.helpers import T0, Clock, Robot, make_services, settings_for, store_mention
from tests.monitor.alerting.test_pipeline import distinct_title
from tests.support_servers import REDIS_URL, free_port
from tests.web.platform.test_ratelimit import TOKEN_A, TOKEN_B, item, make_api, push, stored
from web.api.mentions import INGEST_BUCKETS
from web.platform.ratelimit import SharedTokenBuckets
from web.platform.shared_limits import for_services

__all__ = ["make_api"]  # fixture used below
pytestmark = pytest.mark.redis


CLOSED_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: connection refused at once


@pytest.fixture
async def nodes(prefix: str) -> AsyncIterator[Callable[..., RedisLimits]]:
    made: list[RedisLimits] = []

    def make(url: str = REDIS_URL, **kw: Any) -> RedisLimits:
        limits = RedisLimits(RedisLink(url, prefix), **kw)
        made.append(limits)
        return limits

    yield make
    for limits in made:
        await limits.close()


async def test_two_nodes_share_one_robot_budget_and_p1_keeps_its_room(nodes: Callable[..., RedisLimits]) -> None:
    a = SharedBudget(20, None, limits=nodes(), key="channel:ding")
    b = SharedBudget(20, None, limits=nodes(), key="channel:ding")
    # P3 may use 60 % of 20 a minute between both nodes, not 12 each.
    taken = [await (a if i % 2 else b).acquire(T0 + i * 0.01, "P3") for i in range(20)]
    assert sum(p is not None for p in taken) == 12
    assert await a.acquire(T0 + 1, "P3") is None and await b.acquire(T0 + 1, "P3") is None
    # P1 still finds the other 8 places, again counted once for both nodes.
    urgent = [(node, await node.acquire(T0 + 2, "P1")) for node in (a, b) * 5]
    assert sum(place is not None for _, place in urgent) == 8
    assert a.used(T0 + 2) + b.used(T0 + 2) == 20  # each node also counts its own sends
    # A place given back (the other node claimed that alert) is free again for either node.
    node, place = next((node, place) for node, place in urgent if place is not None)
    assert place is not None
    await node.give_back(place)
    assert await b.acquire(T0 + 3, "P1") is not None and await a.acquire(T0 + 3, "P1") is None
    # The window slides: a minute after the first sends there is room again.
    assert await a.acquire(T0 + 60.5, "P3") is not None


async def test_per_second_limits_are_shared_too(nodes: Callable[..., RedisLimits]) -> None:
    a = SharedBudget(100, 5, limits=nodes(), key="channel:feishu")
    b = SharedBudget(100, 5, limits=nodes(), key="channel:feishu")
    got = [await (a if i % 2 else b).acquire(T0 + i * 0.01, "P1") for i in range(8)]
    assert sum(p is not None for p in got) == 5
    assert await b.acquire(T0 + 1.2, "P1") is not None  # the next second


async def test_the_local_count_beside_a_shared_budget_stays_one_minute_long(
        nodes: Callable[..., RedisLimits]) -> None:
    budget = SharedBudget(20, None, limits=nodes(), key="channel:ding")
    for i in range(180):  # half an hour of sends, one every 10 s, all allowed by Redis
        assert await budget.acquire(T0 + i * 10, "P1") is not None
    assert len(budget._sent) == 6  # only the last minute's sends are kept in process, not all 180


async def test_unreachable_redis_falls_back_to_the_local_budget_logged_once(
        nodes: Callable[..., RedisLimits], caplog: pytest.LogCaptureFixture) -> None:
    budget = SharedBudget(20, None, limits=nodes(CLOSED_URL), key="channel:ding")
    with caplog.at_level(logging.WARNING, logger="lantern.shared_limits"):
        taken = [await budget.acquire(T0 + i * 0.01, "P3") for i in range(20)]
    assert sum(p is not None for p in taken) == 12  # this node's own budget, same priority rule
    assert await budget.acquire(T0 + 1, "P1") is not None
    assert budget.limits.down
    assert [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()] != []
    assert len(caplog.records) == 1  # once for the outage, not per alert


async def test_alerts_still_go_out_when_redis_is_unreachable(tmp_path: Path, prefix: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    robot = await Robot().start()
    settings = settings_for(tmp_path, channels=[{"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"),
                                                 "token": "t0k3n"}], routes=[{"channels": ["ding"]}],
                            incidents__group_wait_s=0, redis__url=CLOSED_URL,
                            redis__prefix=prefix)
    svc = await make_services(settings, Clock())
    try:
        assert isinstance(svc.alerts.sender.budgets["ding"], SharedBudget)
        m = await store_mention(svc, title=distinct_title(1), tier="P1")
        iid = (await svc.incidents.on_mentions([m]))[0].incident_id
        with caplog.at_level(logging.WARNING, logger="lantern.shared_limits"):
            await svc.alerts.tick(T0 + 1)
        assert [r["status"] for r in await svc.db.read(lambda db: list_deliveries(db, incident_id=iid))] == ["sent"]
        assert len(robot.requests) == 1
        assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
    finally:
        await svc.stop()
        svc.db.close()
        await robot.close()


async def test_two_alert_nodes_on_one_robot_send_one_budget(tmp_path: Path, prefix: str) -> None:
    """Two nodes (each its own incidents) posting to one DingTalk robot: 12 P3 in the minute between them."""
    robot = await Robot().start()
    made = []
    try:
        for name in ("a", "b"):
            settings = settings_for(tmp_path / name, channels=[{"name": "ding", "kind": "dingtalk",
                                                                "url": robot.url("/robot/send"), "token": "t0k3n"}],
                                    routes=[{"channels": ["ding"]}], incidents__group_wait_s=0,
                                    redis__url=REDIS_URL, redis__prefix=prefix)
            (tmp_path / name).mkdir()
            made.append(await make_services(settings, Clock()))
        for n, svc in enumerate(made):
            for i in range(10):
                await svc.incidents.on_mentions([await store_mention(svc, title=distinct_title(n * 20 + i),
                                                                     tier="P3")])
        for svc in made:
            await svc.alerts.tick(T0 + 1)
        assert len(robot.requests) == 12  # not 10 + 10
        urgent = await store_mention(made[1], title=distinct_title(99), tier="P1")
        await made[1].incidents.on_mentions([urgent])
        await made[1].alerts.tick(T0 + 2)
        assert len(robot.requests) == 13  # P1 is never held behind the other node's P3 either
    finally:
        for svc in made:
            await svc.stop()
            svc.db.close()
        await robot.close()


async def test_two_nodes_on_one_database_race_for_the_same_alerts(tmp_path: Path, prefix: str) -> None:
    """Both nodes see the same queued alerts: each is sent once, and a lost claim gives its place back."""
    robot = await Robot().start()
    made = []
    try:
        for _ in range(2):
            settings = settings_for(tmp_path, channels=[{"name": "ding", "kind": "dingtalk",
                                                         "url": robot.url("/robot/send"), "token": "t0k3n"}],
                                    routes=[{"channels": ["ding"]}], redis__url=REDIS_URL,
                                    redis__prefix=prefix)
            made.append(await make_services(settings, Clock()))
        a, b = made

        def queue(db: Any) -> None:
            for i in range(12):
                outbox.enqueue(db, incident_id=None, kind="health", tier="P3", now=T0,
                               recipient=Recipient(f"room:{i}", f"值班群 {i}", "ding", False, 0, False, "health"),
                               payload={"source": f"源 {i}", "problem": "failing", "message": "连续失败"})

        await a.db.write(queue)
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(a.alerts.sender.send_due(T0 + 1, http), b.alerts.sender.send_due(T0 + 1, http))
        rows = await a.db.read(lambda db: list_deliveries(db))
        assert [r["status"] for r in rows] == ["sent"] * 12 and len(robot.requests) == 12  # each once
        client = aioredis.from_url(REDIS_URL)
        try:
            assert await client.zcard(f"{prefix}:limits:channel:ding") == 12  # no place lost to a lost claim
        finally:
            await client.aclose()
    finally:
        for svc in made:
            await svc.stop()
            svc.db.close()
        await robot.close()


async def test_two_ingest_nodes_share_a_source_limit(make_api: Any, prefix: str) -> None:
    overrides = {"monitor__ingest_per_minute": 3, "redis__url": REDIS_URL,
                 "redis__prefix": prefix}
    node_a, clock_a, db = await make_api(**overrides)
    node_b, clock_b, _ = await make_api(**overrides)
    assert isinstance(node_a.app[INGEST_BUCKETS], SharedTokenBuckets)
    assert [(await push(node, TOKEN_A, [item(n)])).status for n, node in enumerate((node_a, node_b, node_a))] \
        == [200, 200, 200]
    refused = await push(node_b, TOKEN_A, [item(3)])
    assert refused.status == 429 and refused.headers["Retry-After"] == "20"  # 3 a minute across both nodes
    assert (await push(node_a, TOKEN_B, [item(7)])).status == 200  # another source has its own bucket
    clock_a.advance(20)
    clock_b.advance(20)
    assert (await push(node_b, TOKEN_A, [item(3)])).status == 200
    assert (await push(node_a, TOKEN_A, [item(4)])).status == 429
    assert stored(db, "hook-a") == ["m0", "m1", "m2", "m3"]


async def test_ingest_falls_back_to_the_local_bucket_without_redis(make_api: Any, prefix: str) -> None:
    client, _, db = await make_api(monitor__ingest_per_minute=2, redis__url=CLOSED_URL,
                                   redis__prefix=prefix)
    assert [(await push(client, TOKEN_A, [item(n)])).status for n in range(3)] == [200, 200, 429]
    assert stored(db, "hook-a") == ["m0", "m1"]


async def test_one_client_per_process_for_every_part() -> None:
    class Fake:
        def __init__(self, url: str) -> None:
            self.redis = RedisLink(url, "p") if url else None
            self.limits: RedisLimits | None = None
            self.on_stop: list[Any] = []

    services = Fake(CLOSED_URL)
    first = for_services(services)
    assert first is not None and for_services(services) is first and services.on_stop == [first.close]
    assert first.key("channel:ding") == "p:limits:channel:ding"
    assert for_services(Fake("")) is None
    await first.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Any:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server to start and stop a private Redis")
    port = free_port()

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed local binary and arguments
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop(self) -> None:
            if self.process is not None:
                self.process.terminate()
                self.process.wait(timeout=10)
                self.process = None

    server = Server()
    yield server
    server.stop()


async def wait_up(url: str) -> None:
    client = aioredis.from_url(url, socket_connect_timeout=1)
    try:
        for _ in range(100):
            try:
                if await client.ping():
                    return
            except Exception:  # noqa: S110 - starting up
                pass
            await asyncio.sleep(0.05)
        pytest.fail("the private redis-server did not start")
    finally:
        await client.aclose()


async def test_redis_going_away_and_coming_back(private_redis: Any, nodes: Callable[..., RedisLimits],
                                                caplog: pytest.LogCaptureFixture) -> None:
    private_redis.start()
    await wait_up(private_redis.url)
    a = SharedBudget(20, None, limits=nodes(private_redis.url, retry_s=0), key="channel:ding")
    b = SharedBudget(20, None, limits=nodes(private_redis.url, retry_s=0), key="channel:ding")
    assert [await (a if i % 2 else b).acquire(T0, "P3") is not None for i in range(13)] == [True] * 12 + [False]
    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="lantern.shared_limits"):
        # Each node now has only its own 6 P3 sends behind it: 6 more each, and P1 is never refused.
        assert sum([await a.acquire(T0 + 1, "P3") is not None for _ in range(10)]) == 6
        assert await a.acquire(T0 + 1, "P1") is not None and await b.acquire(T0 + 1, "P1") is not None
        assert a.limits.down and b.limits.down
        private_redis.start()
        await wait_up(private_redis.url)
        assert await a.acquire(T0 + 2, "P1") is not None  # shared again: the new Redis is empty
        assert not a.limits.down
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis unreachable" in m for m in messages) == 2  # once per node for the outage
    assert sum("Redis is back" in m for m in messages) == 1
