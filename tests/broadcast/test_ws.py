"""The ticker websocket over real sockets, through a real ``websockets`` client.

A slow reader is dropped and resyncs; cookie sign-in works; RFC 6455 edges (protocol pings, fragmented
messages, binary and oversized frames, the close handshake) are handled by the server's protocol.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from tests.conftest import FakeClock, add_account
from web.app import create_app
from web.auth import users
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings


def ws_url(server: TestServer, path: str) -> str:
    return str(server.make_url(path).with_scheme("ws"))


def big_item(n: int) -> dict[str, Any]:
    return {"id": n, "version": 1, "title": f"口径{n}", "body": "请按统一口径答复客户。" * 400, "priority": "normal",
            "incident_id": None, "published_at": 1.0, "expires_at": None, "state": "published",
            "content_hash": "h", "audience": {"everyone": True}}


async def test_slow_reader_is_dropped_without_delaying_others(tmp_path: Any) -> None:
    clock = FakeClock(1_800_000_000.0)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"),
                                                    broadcast__max_buffer_bytes=256_000, broadcast__history=50)
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    agent = await add_account(services, "zhang", "agent", "hotline")
    hub = services.hub
    try:
        url = ws_url(server, f"/ws/ticker?token={agent.token}")
        # The slow client reads nothing after its snapshot and stops reading from its socket once one message waits.
        async with connect(url, max_size=1 << 22) as fast, \
                connect(url, max_size=1 << 22, max_queue=1) as slow:
            snap = json.loads(await slow.recv())  # then it stops reading
            received: list[dict[str, Any]] = []
            target = [0]
            caught_up = asyncio.Event()

            async def read_fast() -> None:
                async for msg in fast:
                    assert isinstance(msg, str), repr(msg)
                    received.append(json.loads(msg))
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
            with pytest.raises(ConnectionClosedError) as dropped:  # reading on, the slow one finds its end
                while True:
                    await asyncio.wait_for(slow.recv(), timeout=10)
            assert dropped.value.rcvd is None  # dropped without a close frame (PROTOCOL.md)
            # The dropped client comes back with its position; history no longer covers it: snapshot.
            async with connect(ws_url(server, f"/ws/ticker?token={agent.token}&since={snap['rev']}"
                                              f"&epoch={snap['epoch']}"), max_size=1 << 27) as again:
                fresh = json.loads(await again.recv())
            assert fresh["type"] == "snapshot" and fresh["rev"] == sent and len(fresh["items"]) == sent
            reader.cancel()
    finally:
        await server.close()
        services.db.close()


async def test_session_cookie_signs_in_and_anonymous_is_refused(tmp_path: Any) -> None:
    clock = FakeClock(1_800_000_000.0)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        agent = await add_account(services, "zhang", "agent", "hotline")
        session = await services.db.write(lambda db: users.create_session(db, agent.user, now=clock(), ttl_s=3600))
        async with connect(ws_url(server, "/ws/ticker"),
                           additional_headers={"Cookie": f"lantern_session={session}"}) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "snapshot" and first["items"] == []
        async with aiohttp.ClientSession() as http:
            for query in ("", "?token=lt_wrong"):
                async with http.get(server.make_url(f"/ws/ticker{query}")) as resp:
                    assert resp.status == 401
                    assert "lt_wrong" not in await resp.text()
    finally:
        await server.close()
        services.db.close()


@pytest.fixture
async def ticker(tmp_path: Any) -> AsyncIterator[tuple[TestServer, Services, str]]:
    """A node with the ticker; yields (server, services, an agent's ticker URL)."""
    clock = FakeClock(1_800_000_000.0)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        agent = await add_account(services, "zhang", "agent", "hotline")
        yield server, services, ws_url(server, f"/ws/ticker?token={agent.token}")
    finally:
        await server.close()
        services.db.close()


async def closed(ws: ClientConnection) -> tuple[int, str]:
    """Read to the server's close frame: (code, reason)."""
    with pytest.raises(ConnectionClosed) as ended:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=10)
    assert ended.value.rcvd is not None, "the server dropped the connection without a close frame"
    return ended.value.rcvd.code, ended.value.rcvd.reason


async def until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")


async def test_protocol_pings_fragments_and_no_compression(ticker: tuple[TestServer, Services, str]) -> None:
    _server, _services, url = ticker
    async with connect(url) as ws:  # the client offers permessage-deflate; the ticker declines it
        assert json.loads(await ws.recv())["type"] == "snapshot"
        assert ws.protocol.extensions == []
        latency = await asyncio.wait_for(await ws.ping(b"are you there"), timeout=10)  # an RFC 6455 ping frame
        assert latency >= 0
        await ws.send(iter(['{"type"', ':"pi', 'ng"}']))  # one message in three frames
        assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) == {"type": "pong"}


async def test_binary_and_oversized_messages_close_the_socket(ticker: tuple[TestServer, Services, str]) -> None:
    _server, services, url = ticker
    async with connect(url) as ws:
        await ws.recv()
        await ws.send(b'{"type":"ping"}')
        assert await closed(ws) == (1003, "text frames only")
    async with connect(url) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "ack", "id": 1, "version": 1, "pad": "x" * 5000}))  # over 4 KB
        code, _reason = await closed(ws)
        assert code == 1009
    await until(lambda: not services.hub.connections)


async def test_client_close_handshake_ends_the_connection(ticker: tuple[TestServer, Services, str]) -> None:
    _server, services, url = ticker
    async with connect(url) as ws:
        await ws.recv()
        assert len(services.hub.connections) == 1
        await ws.close(1000, "bye")
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000  # the server echoed it
    await until(lambda: not services.hub.connections)


async def test_plain_get_is_told_to_upgrade(ticker: tuple[TestServer, Services, str]) -> None:
    _server, _services, url = ticker
    async with aiohttp.ClientSession() as http, http.get(url.replace("ws://", "http://", 1)) as resp:
        assert resp.status == 426 and resp.headers["Upgrade"] == "websocket"
