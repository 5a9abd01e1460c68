"""The ticker websocket over real sockets: a slow reader is dropped and resyncs; cookie sign-in works."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tests.conftest import FakeClock, add_account
from web.app import create_app
from web.auth import users
from web.platform.settings import load_settings
from web.wiring.services import build_services


def big_item(n: int) -> dict[str, Any]:
    return {"id": n, "version": 1, "title": f"口径{n}", "body": "请按统一口径答复客户。" * 400, "priority": "normal",
            "incident_id": None, "published_at": 1.0, "expires_at": None, "state": "published",
            "content_hash": "h", "audience": {"everyone": True}}


async def test_slow_reader_is_dropped_without_delaying_others(tmp_path: Any) -> None:
    clock = FakeClock(1_800_000_000.0)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"),
                                                    broadcast__max_buffer_bytes=256_000, broadcast__history=50)
    services = await build_services(settings, clock=clock, wiring=("web.wiring.broadcast",))
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    agent = await add_account(services, "zhang", "agent", "hotline")
    hub = services.hub
    try:
        async with aiohttp.ClientSession() as http:
            url = server.make_url(f"/ws/ticker?token={agent.token}")
            fast = await http.ws_connect(url, max_msg_size=1 << 22)
            slow = await http.ws_connect(url, max_msg_size=1 << 22)
            snap = json.loads((await slow.receive()).data)  # then it stops reading
            received: list[dict[str, Any]] = []
            target = [0]
            caught_up = asyncio.Event()

            async def read_fast() -> None:
                async for msg in fast:
                    assert msg.type == aiohttp.WSMsgType.TEXT, repr(msg.data)
                    received.append(json.loads(msg.data))
                    if target[0] and len(received) >= target[0]:
                        caught_up.set()

            reader = asyncio.create_task(read_fast())
            sent = 0
            while hub.stats.dropped_slow == 0 and sent < 3000:
                sent += 1
                hub.deliver(hub.core.apply("publish", big_item(sent), now=clock()))
                await asyncio.sleep(0)
            assert hub.stats.dropped_slow == 1, "the slow reader was never dropped"
            assert len(hub.connections) == 1  # the fast one stays
            target[0] = sent + 1
            if len(received) >= target[0]:
                caught_up.set()
            await asyncio.wait_for(caught_up.wait(), timeout=20)
            revs = [m["rev"] for m in received[1:]]
            assert revs == list(range(1, sent + 1))  # every delta, in order, none skipped
            # The dropped client comes back with its position; history no longer covers it: snapshot.
            again = await http.ws_connect(
                server.make_url(f"/ws/ticker?token={agent.token}&since={snap['rev']}&epoch={snap['epoch']}"),
                max_msg_size=1 << 27)
            fresh = json.loads((await again.receive()).data)
            assert fresh["type"] == "snapshot" and fresh["rev"] == sent and len(fresh["items"]) == sent
            reader.cancel()
            for ws in (fast, slow, again):
                await ws.close()
    finally:
        await server.close()
        services.db.close()


async def test_session_cookie_signs_in_and_anonymous_is_refused(tmp_path: Any) -> None:
    clock = FakeClock(1_800_000_000.0)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, clock=clock, wiring=("web.wiring.broadcast",))
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        agent = await add_account(services, "zhang", "agent", "hotline")
        session = await services.db.write(lambda db: users.create_session(db, agent.user, now=clock(), ttl_s=3600))
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(server.make_url("/ws/ticker"), headers={"Cookie": f"lantern_session={session}"})
            first = json.loads((await ws.receive()).data)
            assert first["type"] == "snapshot" and first["items"] == []
            await ws.close()
            for query in ("", "?token=lt_wrong"):
                async with http.get(server.make_url(f"/ws/ticker{query}")) as resp:
                    assert resp.status == 401
                    assert "lt_wrong" not in await resp.text()
    finally:
        await server.close()
        services.db.close()
