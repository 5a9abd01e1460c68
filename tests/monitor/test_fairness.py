"""Issue #11 points 6 and 8: hanging hosts do not starve their neighbours, "poll now" twice at once, URL secrets."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import Defaults
from monitor.errors import FetchError
from monitor.http import FetchRequest, HttpFetcher
from monitor.service import MonitorService
from tests.support_monitor import Clock, FakeClassifier, FeedServer, Route, fixture_bytes, open_db, wait_until
from tests.web.api.test_monitor import api  # noqa: F401 - the fixture

FEED = fixture_bytes("rsshub_sina_tousu.xml")


class HangingHost:
    """A real server on 127.0.0.1: /hang* never answers until released, /feed answers at once, /slow in 50 ms."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.active = 0
        self.most_active = 0
        app = web.Application()
        app.router.add_get("/hang{n:.*}", self._hang)
        app.router.add_get("/feed", self._feed)
        app.router.add_get("/slow", self._slow)
        self.server = TestServer(app, host="127.0.0.1")

    async def _hang(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(body=FEED, content_type="application/rss+xml")

    async def _feed(self, request: web.Request) -> web.Response:
        return web.Response(body=FEED, content_type="application/rss+xml")

    async def _slow(self, request: web.Request) -> web.Response:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        await asyncio.sleep(0.05)
        self.active -= 1
        return web.Response(text="ok")

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def __aenter__(self) -> HangingHost:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await self.server.close()


async def test_hanging_requests_give_their_host_slot_back() -> None:
    fetcher = HttpFetcher(per_host=2, slot_hold_s=0.2)
    try:
        async with HangingHost() as host:
            hung = [asyncio.create_task(fetcher.get(FetchRequest(host.url(f"/hang{i}"), timeout_s=60)))
                    for i in range(2)]
            await asyncio.sleep(0)
            for _ in range(5):  # both slots were taken by requests that never answer
                resp = await fetcher.get(FetchRequest(host.url("/feed"), timeout_s=60))
                assert resp.status == 200 and resp.body == FEED
            assert not any(t.done() for t in hung)  # they go on, within their own timeout
            # Requests that make progress are still capped at per_host at once.
            await asyncio.gather(*(fetcher.get(FetchRequest(host.url("/slow"))) for _ in range(8)))
            assert host.most_active == 2
            host.release.set()
            assert [r.status for r in await asyncio.gather(*hung)] == [200, 200]
    finally:
        await fetcher.close()


async def test_waiting_for_a_host_slot_counts_toward_the_timeout() -> None:
    fetcher = HttpFetcher(per_host=1, slot_hold_s=60)
    try:
        async with HangingHost() as host:
            hung = asyncio.create_task(fetcher.get(FetchRequest(host.url("/hang"), timeout_s=60)))
            await asyncio.sleep(0.05)
            with pytest.raises(FetchError, match="超时"):
                await fetcher.get(FetchRequest(host.url("/feed"), timeout_s=0.3))
            host.release.set()
            await hung
    finally:
        await fetcher.close()


async def test_a_hanging_source_does_not_block_its_hosts_other_sources(tmp_path: Path) -> None:
    db = open_db(tmp_path / "l.db")
    fetcher = HttpFetcher(per_host=2, slot_hold_s=0.2)
    try:
        async with HangingHost() as host:
            sources = [{"name": f"hung{i}", "kind": "rss", "url": host.url(f"/hang{i}"), "timeout_s": 60}
                       for i in range(2)] + [{"name": "fine", "kind": "rss", "url": host.url("/feed")}]
            service = MonitorService(db, FakeClassifier(), Clock(), sources=sources, defaults=Defaults(),
                                     fetcher=fetcher, rng=random.Random(1))
            await service.start(schedule=False)
            hung = [asyncio.create_task(service.poll_once(f"hung{i}")) for i in range(2)]
            await asyncio.sleep(0.05)
            for _ in range(3):
                [result] = await service.poll_once("fine")
                assert result.ok, result
            assert not any(t.done() for t in hung)
            host.release.set()
            assert all(r.ok for [r] in await asyncio.gather(*hung))
            await service.stop()
    finally:
        await fetcher.close()
        db.close()


async def test_two_poll_now_at_once_with_the_scheduler_off(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api  # monitor.enabled = false in this fixture
    async with FeedServer() as srv:
        srv.routes["/slow"] = Route(body=FEED, hang=True)
        srv.routes["/fast"] = Route(body=fixture_bytes("rsshub_zhihu_hot.xml"))
        for name in ("slow", "fast"):
            body = {"name": name, "kind": "rss", "url": srv.url(f"/{name}"), "query": "鲜味楼"}
            assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
        slow = asyncio.create_task(client.post("/api/sources/slow/poll", headers=tokens["manager"]))
        await wait_until(lambda: srv.routes["/slow"].hits > 0)
        fast = await (await client.post("/api/sources/fast/poll", headers=tokens["manager"])).json()
        assert fast["result"]["ok"], fast  # it ended first; the slow one is still in flight
        srv.release()
        answer = await (await slow).json()
    assert answer["result"]["ok"] and answer["result"]["new"] == 2, answer  # was ClientConnectionError


async def test_url_secrets_are_masked_and_survive_an_edit(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api
    async with FeedServer() as srv:
        srv.routes["/api/search"] = Route(body=FEED)
        base = srv.url("/api/search").replace("http://", "http://reader:PASSWORDSECRET@")
        url = (f"{base}?q=%E9%B2%9C%E5%91%B3%E6%A5%BC&apikey=APIKEYSECRET&token=TOKENSECRET&KEY=KEYSECRET"
               "&access_token=ACCESSSECRET&sign=SIGNSECRET&page=1")
        body = {"name": "search", "kind": "rss", "url": url, "query": "鲜味楼"}
        created = await (await client.post("/api/sources", json=body, headers=tokens["manager"])).json()
        listed = await (await client.get("/api/sources", headers=tokens["oncall"])).json()
        shown = next(s for s in listed["items"] if s["name"] == "search")["url"]
        for answer in (str(created), str(listed)):
            assert "SECRET" not in answer
        assert shown.startswith("http://reader:***@") and "apikey=***" in shown and "KEY=***" in shown
        assert "page=1" in shown and "q=%E9%B2%9C" in shown
        # The console sends the listed URL back with another parameter changed: the secrets are kept.
        resp = await client.patch("/api/sources/search", json={"url": shown.replace("page=1", "page=2")},
                                  headers=tokens["manager"])
        assert resp.status == 200 and "SECRET" not in await resp.text()
        result = (await (await client.post("/api/sources/search/poll", headers=tokens["manager"])).json())["result"]
        assert result["ok"], result
        seen = srv.routes["/api/search"].seen_headers[-1]
        assert seen["Authorization"].startswith("Basic ")  # the userinfo password is still sent
        stored = next(s for s in await _stored(api) if s["name"] == "search")["url"]
        assert stored == url.replace("page=1", "page=2")


async def _stored(api: Any) -> list[dict[str, Any]]:  # noqa: F811
    import json

    _, _, services = api
    rows = services.db.read_sync(lambda db: list(db.query("SELECT config FROM sources")))
    return [json.loads(r["config"]) for r in rows]
