"""The console's live stream (/api/live) over a real server: what producers tell it, resume, roles, slow clients.

An aiohttp client reads the Server-Sent Events as a browser would; mentions
arrive through the real push endpoint, scripts through the real API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Account, FakeClock, add_account
from web.app import create_app
from web.auth import users
from web.compose import ALL_PARTS, Part, Services, build_services
from web.platform.settings import load_settings
from web.realtime.console_events import LiveHub

NOW = 1_773_600_000.0  # 2026-03-15, the evening of the 3·15 broadcast
PUSH_TOKEN = "live-push-token-0123456789"
CRISIS = {"id": "w1", "url": "https://weibo.com/1/w1", "author": "央视新闻", "author_reach": 90_000_000,
          "title": "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续卖，太恶心了！",
          "text": "央视3·15晚会曝光：鲜味楼多家门店后厨老鼠乱窜、过期食材更换标签继续使用。再也不会去了，必须严查！"}


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@dataclass
class Event:
    kind: str
    id: str
    data: dict[str, Any]


@dataclass
class Stream:
    """A Server-Sent Events reader over an aiohttp response (what EventSource does in a browser)."""

    response: aiohttp.ClientResponse
    comments: list[str] = field(default_factory=list)
    stop_at_comment: bool = False

    async def comment(self) -> str:
        """Read on to the next comment line (a heartbeat) and return it."""
        self.stop_at_comment = True
        try:
            while await self.next() is not None:
                pass
        finally:
            self.stop_at_comment = False
        return self.comments[-1]

    async def next(self) -> Event | None:
        """The next event; None when the server ended the stream."""
        kind, event_id, data = "message", "", []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout=10)
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if not line:
                if data:
                    return Event(kind, event_id, json.loads("\n".join(data)))
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                self.comments.append(value)
                if self.stop_at_comment:
                    return None
            elif name == "event":
                kind = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)

    async def until(self, kind: str, **match: Any) -> Event:
        while True:
            event = await self.next()
            assert event is not None, f"stream ended before a {kind} event"
            if event.kind == kind and all(event.data.get(k) == v for k, v in match.items()):
                return event


@dataclass
class Site:
    services: Services
    server: TestServer
    http: aiohttp.ClientSession
    manager: Account
    approver: Account
    oncall: Account
    agent: Account
    streams: list[Stream] = field(default_factory=list)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def stream(self, who: Account | None = None, last_event_id: str | None = None) -> Stream:
        headers = dict((who or self.manager).headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        response = await self.http.get(self.url("/api/live"), headers=headers)
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        self.streams.append(Stream(response))
        return self.streams[-1]

    async def call(self, who: Account, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.url(path), json=body, headers=who.headers) as response:
            data = await response.json()
            assert response.status < 300, data
            return data


async def open_site(tmp_path: Path, parts: Collection[Part] = ALL_PARTS, **overrides: Any) -> AsyncIterator[Site]:
    settings = load_settings(env={}).with_overrides(
        storage__path=str(tmp_path / "l.db"), monitor__enabled=False, incidents__group_wait_s=0,
        **overrides).with_lists(
        sources=[{"name": "weibo-push", "kind": "push", "token": PUSH_TOKEN, "query": "鲜味楼"}],
        channels=[{"name": "desk", "kind": "console"}],
        routes=[{"name": "all", "tiers": ["P1", "P2", "P3", "P4"], "roles": ["manager"], "channels": ["desk"]}])
    services = await build_services(settings, clock=FakeClock(NOW), parts=parts)
    accounts = [await add_account(services, name, role, team) for name, role, team in (
        ("wang", "manager", "pr"), ("li", "manager", "service"), ("zhou", "oncall", "ops"), ("zhang", "agent", "a"))]
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            site = Site(services, server, http, *accounts)
            try:
                yield site
            finally:
                for stream in site.streams:
                    stream.response.close()
    finally:
        await server.close()
        services.db.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async for running in open_site(tmp_path):
        yield running


async def test_pushed_mention_reaches_the_console_as_an_incident_event(site: Site) -> None:
    stream = await site.stream(site.oncall)
    ready = await stream.next()
    assert ready is not None and ready.kind == "ready" and ready.data == {"polling": True}
    async with site.http.post(site.url("/api/ingest"), json={"items": [CRISIS]},
                              headers={"Authorization": f"Bearer {PUSH_TOKEN}"}) as pushed:
        assert (await pushed.json())["accepted"] == 1
    event = await stream.until("incident")
    incidents = (await site.call(site.manager, "GET", "/api/incidents"))["items"]
    assert [i["id"] for i in incidents] == [event.data["id"]]
    assert event.data["tier"] == incidents[0]["tier"] and event.data["count"] == 1
    assert event.data["change"] == "opened" and event.data["state"] == "open"
    epoch, _, seq = event.id.rpartition("-")
    assert epoch == site.services.live.epoch and int(seq) > int(ready.id.rpartition("-")[2])

    # The alert engine queues and sends the console alert: an alert event names the incident.
    await site.services.alerts.tick()
    alert = await stream.until("alert")
    assert event.data["id"] in alert.data["incidents"]

    # A manager acknowledging it is an incident event too.
    await site.call(site.manager, "POST", f"/api/incidents/{event.data['id']}/ack")
    acked = await stream.until("incident", id=event.data["id"])
    assert acked.data["state"] == "acknowledged" and acked.data["change"] == "acknowledged"


async def test_submitting_a_draft_is_a_script_event(site: Site) -> None:
    stream = await site.stream()
    draft = await site.call(site.manager, "POST", "/api/scripts", {"title": "统一口径", "body": "门店已停业整改。"})
    created = await stream.until("script")
    assert created.data == {"id": draft["id"], "version": 1, "state": "draft"}
    await site.call(site.manager, "POST", f"/api/scripts/{draft['id']}/submit", {"version": 1})
    submitted = await stream.until("script")
    assert submitted.data == {"id": draft["id"], "version": 1, "state": "in_review"}
    await site.call(site.approver, "POST", f"/api/scripts/{draft['id']}/approve", {"version": 1})
    assert (await stream.until("script")).data["state"] == "approved"


async def test_source_changes_are_source_events(site: Site) -> None:
    stream = await site.stream()
    await site.call(site.manager, "POST", "/api/sources/weibo-push/pause")
    assert (await stream.until("source")).data == {"name": "weibo-push", "status": "paused"}
    await site.call(site.manager, "POST", "/api/sources/weibo-push/resume")
    assert (await stream.until("source")).data == {"name": "weibo-push", "status": "pending"}
    # A first successful push moves it from pending to ok; a second one changes nothing.
    for _ in range(2):
        async with site.http.post(site.url("/api/ingest"), json={"items": [{"text": "鲜味楼的酸菜鱼好吃"}]},
                                  headers={"Authorization": f"Bearer {PUSH_TOKEN}"}) as pushed:
            assert pushed.status == 200
    assert (await stream.until("source")).data == {"name": "weibo-push", "status": "ok"}
    await site.call(site.manager, "POST", "/api/sources/weibo-push/pause")
    assert (await stream.until("source")).data["status"] == "paused"  # no ok event in between


async def test_resume_with_last_event_id_gets_exactly_what_was_missed(site: Site) -> None:
    stream = await site.stream()
    first = await site.call(site.manager, "POST", "/api/scripts", {"title": "一", "body": "正文一"})
    seen = await stream.until("script")
    stream.response.close()
    # While the console is away: two changes.
    await site.call(site.manager, "POST", f"/api/scripts/{first['id']}/submit", {"version": 1})
    second = await site.call(site.manager, "POST", "/api/scripts", {"title": "二", "body": "正文二"})

    back = await site.stream(last_event_id=seen.id)
    ready = await back.next()
    assert ready is not None and ready.kind == "ready" and ready.id == seen.id
    missed = [await back.next(), await back.next()]
    assert [(e.data["id"], e.data["state"]) for e in missed if e] == [(first["id"], "in_review"),
                                                                      (second["id"], "draft")]
    # ... then live events follow as usual.
    await site.call(site.manager, "POST", f"/api/scripts/{second['id']}/submit", {"version": 1})
    assert (await back.until("script")).data == {"id": second["id"], "version": 1, "state": "in_review"}

    # An id of another process (a restart, another node) or a garbled one: resync, never a guess.
    for stale in ("0badc0de-3", "garbage", f"{site.services.live.epoch}-999"):
        other = await site.stream(last_event_id=stale)
        event = await other.next()
        assert event is not None and event.kind == "resync", stale
        assert event.id == site.services.live.event_id(site.services.live.seq)


async def test_roles_and_session_cookie(site: Site) -> None:
    async with site.http.get(site.url("/api/live"), headers=site.agent.headers) as refused:
        assert refused.status == 403
        assert (await refused.json())["error"] == "forbidden"
    async with aiohttp.ClientSession() as anonymous, anonymous.get(site.url("/api/live")) as response:
        assert response.status == 401
    # The console page's own cookie session works (EventSource sends cookies, not headers).
    session = await site.services.db.write(lambda db: users.create_session(
        db, site.manager.user, now=NOW, ttl_s=3600))
    async with aiohttp.ClientSession(cookies={"lantern_session": session}) as browser, \
            browser.get(site.url("/api/live")) as response:
        assert response.status == 200
        event = await Stream(response).next()
        assert event is not None and event.kind == "ready"


async def test_heartbeat_comments(tmp_path: Path) -> None:
    async for site in open_site(tmp_path, parts={Part.BROADCAST, Part.CONSOLE},
                                console__live_heartbeat_s=0.05, console__fallback_polling=False):
        stream = await site.stream()
        ready = await stream.next()
        assert ready is not None and ready.data == {"polling": False}
        assert await stream.comment() == "keep-alive"
        assert await stream.comment() == "keep-alive"  # and again: the stream stays open
        await site.call(site.manager, "POST", "/api/scripts", {"title": "心跳", "body": "之后"})
        assert (await stream.until("script")).data["state"] == "draft"


async def test_a_console_that_does_not_keep_up_is_dropped_not_buffered(tmp_path: Path) -> None:
    async for site in open_site(tmp_path,
        parts={Part.BROADCAST, Part.CONSOLE}, console__live_queue=3):
        hub: LiveHub = site.services.live
        slow, fine = await site.stream(), await site.stream()
        for stream in (slow, fine):
            assert (await stream.next()).kind == "ready"  # type: ignore[union-attr]
        assert len(hub.subscribers) == 2
        # Four events before either handler may run: more than one connection's queue holds.
        for n in range(4):
            hub.publish("source", {"name": f"s{n}", "status": "ok"})
        assert hub.dropped == 2 and not hub.subscribers
        with pytest.raises(aiohttp.ClientPayloadError):  # the server cut its connection mid-stream
            await slow.next()
        # The server is unharmed: a new console connects and receives.
        again = await site.stream()
        await again.next()
        hub.publish("source", {"name": "s9", "status": "error"})
        assert (await again.until("source")).data == {"name": "s9", "status": "error"}


def test_hub_ring_resume_and_resync() -> None:
    hub = LiveHub(history=3, queue_limit=10, epoch="e1")
    for n in range(5):
        hub.publish("alert", {"incidents": [n]})
    assert hub.since("e1-4") == [e for e in hub.ring if e.seq == 5]
    assert [e.seq for e in hub.since("e1-2") or []] == [3, 4, 5]
    assert hub.since("e1-1") is None  # event 2 fell out of the ring
    assert hub.since("e1-5") == [] and hub.since("e1-6") is None and hub.since("e2-5") is None
    subscriber, first = hub.subscribe("e1-5")
    assert [e.kind for e in first] == ["ready"]
    hub.resync_all()  # e.g. the Redis fan-out was away: remote events may be lost
    assert [(e.seq, e.kind) for e in subscriber.pending] == [(6, "resync")]
    assert [e.kind for e in hub.since("e1-5") or []] == ["resync"]  # resuming from before it: told too
    hub.publish("script", {"id": 1})
    assert [e.seq for e in hub.since("e1-6") or []] == [7]
    assert hub.encode(hub.ring[-1]) == b'id: e1-7\nevent: script\ndata: {"id":1}\n\n'
    with pytest.raises(ValueError):
        hub.publish("nonsense", {})


async def test_serve_stops_promptly_with_consoles_connected(tmp_path: Path, unused_tcp_port: int) -> None:
    from web.cli.serve import serve

    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), server__port=unused_tcp_port,
                                                    monitor__enabled=False)
    stop, opened = asyncio.Event(), asyncio.Event()
    async with aiohttp.ClientSession() as http:
        streams: list[Stream] = []

        async def announce(services: Services, url: str) -> None:
            manager = await add_account(services, "wang", "manager")
            streams.append(Stream(await http.get(f"{url}/api/live", headers=manager.headers)))
            opened.set()

        task = asyncio.create_task(serve(settings, announce=announce, stop=stop))
        await asyncio.wait_for(opened.wait(), timeout=30)
        assert (await streams[0].next()).kind == "ready"  # type: ignore[union-attr]
        stop.set()
        # Shutdown ends the open stream instead of waiting for it (aiohttp would wait up to 60 s).
        await asyncio.wait_for(task, timeout=10)
        assert await streams[0].next() is None
        streams[0].response.close()
