"""Two nodes sharing the ticker through the real Redis on 127.0.0.1:6379 (skipped if it is not there)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import Account, FakeClock, add_account
from tests.support_servers import REDIS_URL, free_port
from web.app import create_app
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

pytestmark = pytest.mark.redis


class Node:
    def __init__(self, services: Services, server: TestServer, manager: Account, approver: Account,
                 agent: Account) -> None:
        self.services, self.server = services, server
        self.manager, self.approver, self.agent = manager, approver, agent

    @property
    def relay(self) -> Any:
        return self.services.relay

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def ticker(self, path: str) -> ClientConnection:
        """A ticker websocket on this node, through a ``websockets`` client."""
        return await connect(str(self.server.make_url(path).with_scheme("ws")))


async def start_node(tmp_path: Any, name: str, prefix: str, clock: FakeClock, db: str = "",
                     url: str = REDIS_URL, wait: bool = True) -> Node:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / f"{db or name}.db"),
                                                    redis__url=url, redis__prefix=prefix)
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    accounts = [await add_account(services, f"{name}-{n}", r, t) for n, r, t in (
        ("wang", "manager", "pr"), ("li", "manager", "service"), ("zhang", "agent", "hotline"))]
    node = Node(services, server, *accounts)
    node.relay.retry_s = 0.05
    if wait:  # subscribed before any client connects, or a slow start serves a local-only epoch
        await asyncio.wait_for(node.relay.connected.wait(), timeout=10)
    return node


async def stop_node(node: Node) -> None:
    await node.server.close()
    node.services.db.close()


async def publish(http: aiohttp.ClientSession, node: Node, title: str) -> int:
    async def post(path: str, who: Account, **kw: Any) -> dict[str, Any]:
        async with http.post(node.url(path), headers=who.headers, **kw) as resp:
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()

    sid = (await post("/api/scripts", node.manager, json={"title": title, "body": f"{title} 正文"}))["id"]
    await post(f"/api/scripts/{sid}/submit", node.manager)
    await post(f"/api/scripts/{sid}/approve", node.approver, json={"version": 1})
    await post(f"/api/scripts/{sid}/publish", node.approver)
    return sid


async def receive(ws: ClientConnection, *wanted: str) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(ws.recv(), timeout=10)
        assert isinstance(msg, str), msg
        data = json.loads(msg)
        if data["type"] in wanted:
            return data


async def test_agent_on_any_node_sees_publish_from_any_node(tmp_path: Any, prefix: str) -> None:
    clock = FakeClock(1_800_000_000.0)
    # Two processes of one installation: one database, one Redis.
    a = await start_node(tmp_path, "a", prefix, clock, db="shared")
    b = await start_node(tmp_path, "b", prefix, clock, db="shared")
    try:
        async with aiohttp.ClientSession() as http:
            on_b = await b.ticker(f"/ws/ticker?token={b.agent.token}")
            on_a = await a.ticker(f"/ws/ticker?token={a.agent.token}")
            snap_b = await receive(on_b, "snapshot")
            snap_a = await receive(on_a, "snapshot")
            assert snap_a["epoch"] == snap_b["epoch"]  # one shared numbering
            sid = await publish(http, a, "甲节点发布")
            got_b, got_a = await receive(on_b, "publish"), await receive(on_a, "publish")
            assert got_b == got_a and got_b["item"]["id"] == sid and got_b["rev"] == snap_b["rev"] + 1
            await b.relay.write_presence()
            async with http.get(a.url(f"/api/scripts/{sid}/coverage"), headers=a.manager.headers) as resp:
                coverage = await resp.json()
            assert coverage["connected"] == 2  # node B's agent counts on node A
            sid_b = await publish(http, b, "乙节点发布")
            assert (await receive(on_a, "publish"))["item"]["id"] == sid_b
            # A client of node B resumes on node A with exactly the missed delta.
            await on_b.close()
            await publish(http, a, "离线期间")
            # Node A applies its own publish when Redis hands it back: wait for that (its own agent sees it),
            # or the resuming client may be told "resumed" first and get the change live instead of as a delta.
            assert (await receive(on_a, "publish"))["item"]["title"] == "离线期间"
            back = await a.ticker(
                f"/ws/ticker?token={a.agent.token}&since={got_b['rev'] + 1}&epoch={snap_b['epoch']}")
            missed = await receive(back, "publish", "snapshot")
            assert missed["type"] == "publish" and missed["item"]["title"] == "离线期间"
            assert (await receive(back, "resumed"))["rev"] == missed["rev"]
            await on_a.close()
            await back.close()
    finally:
        await stop_node(a)
        await stop_node(b)


async def test_change_racing_the_quiet_check_reaches_clients_as_a_publish(tmp_path: Any, prefix: str) -> None:
    """The quiet-channel check may read Redis's revision just before that change's message arrives: the node
    takes the message rather than reloading, so agents see each publish as itself, not as a fresh snapshot
    (a CI run once timed out waiting for a publish that had been folded into such a snapshot)."""
    clock = FakeClock(1_800_000_000.0)
    a = await start_node(tmp_path, "a", prefix, clock, db="shared")
    b = await start_node(tmp_path, "b", prefix, clock, db="shared")
    b.relay.check_s = 0.0005  # check almost continuously, so the race is hit on every publish
    try:
        async with aiohttp.ClientSession() as http:
            ws = await b.ticker(f"/ws/ticker?token={b.agent.token}")
            await receive(ws, "snapshot")
            resyncs = b.relay.resyncs
            for n in range(12):
                sid = await publish(http, a, f"竞态{n}")
                got = await receive(ws, "publish", "snapshot")
                assert got["type"] == "publish" and got["item"]["id"] == sid, got["type"]
            assert b.relay.resyncs == resyncs
            await ws.close()
    finally:
        await stop_node(a)
        await stop_node(b)


async def test_node_that_lost_redis_recovers_by_snapshot(tmp_path: Any, prefix: str) -> None:
    clock = FakeClock(1_800_000_000.0)
    a = await start_node(tmp_path, "a", prefix, clock)
    b = await start_node(tmp_path, "b", prefix, clock)
    admin = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await b.ticker(f"/ws/ticker?token={b.agent.token}")
            first = await receive(ws, "snapshot")
            # Cut node B's subscription, then publish on A while B cannot hear it.
            b_pubsub = [c for c in await admin.client_list(_type="pubsub") if c.get("name") == b.relay.client_name]
            assert len(b_pubsub) == 1
            # Hold B's resubscription until A has published, so B really misses the publish however slow
            # this machine is (otherwise B may be back within its 50 ms retry and hear it live).
            gate, session = asyncio.Event(), b.relay._session

            async def gated_session() -> None:
                await gate.wait()
                await session()

            b.relay._session = gated_session  # type: ignore[method-assign]
            await admin.client_kill_filter(_id=b_pubsub[0]["id"])
            for _ in range(500):
                if not b.relay.connected.is_set():
                    break
                await asyncio.sleep(0.01)
            assert not b.relay.connected.is_set()
            sid = await publish(http, a, "断线期间发布")
            gate.set()
            recovered = await receive(ws, "snapshot", "publish")
            assert recovered["type"] == "snapshot"
            assert sid in {item["id"] for item in recovered["items"]}
            assert recovered["rev"] > first["rev"]
            assert b.relay.resyncs >= 1
            # Redis loses its data entirely: the next publish re-seeds it from the database.
            await admin.delete(f"{prefix}:meta", f"{prefix}:items")
            sid2 = await publish(http, a, "数据丢失后")
            again = await receive(ws, "snapshot")
            assert {sid, sid2} <= {item["id"] for item in again["items"]}
            await ws.close()
    finally:
        await admin.aclose()
        await stop_node(a)
        await stop_node(b)


class OwnRedis:
    """A private redis-server on a free port, so a test can take it down and bring it back."""

    def __init__(self, tmp_path: Any) -> None:
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary, self.dir, self.port = binary, tmp_path, free_port()
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.dir), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        client = aioredis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except Exception:
                    await asyncio.sleep(0.05)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def test_nodes_keep_serving_through_a_redis_outage_and_merge_after(tmp_path: Any, prefix: str) -> None:
    own = OwnRedis(tmp_path)
    await own.start()
    clock = FakeClock(1_800_000_000.0)
    nodes: list[Node] = []
    try:
        for name in ("a", "b"):
            node = await start_node(tmp_path, name, prefix, clock, url=own.url)
            node.relay.check_s = 0.2
            nodes.append(node)
        a, b = nodes
        async with aiohttp.ClientSession() as http:
            ws = await b.ticker(f"/ws/ticker?token={b.agent.token}")
            shared_epoch = (await receive(ws, "snapshot"))["epoch"]
            await own.stop()  # Redis goes away (and with it all shared state)
            sid_b = await publish(http, b, "断网时乙发布")
            local = await receive(ws, "publish")  # B's own agents are still served
            assert local["item"]["id"] == sid_b
            assert b.services.hub.core.epoch != shared_epoch  # local numbering, never mixed with shared
            sid_a = await publish(http, a, "断网时甲发布")
            await own.start()  # back, empty
            deadline = asyncio.get_running_loop().time() + 15
            seen: set[int] = set()
            while {sid_a, sid_b} - seen:
                assert asyncio.get_running_loop().time() < deadline, f"B never caught up, saw {seen}"
                message = await receive(ws, "snapshot", "publish")
                if message["type"] == "snapshot":
                    seen = {item["id"] for item in message["items"]}
                else:
                    seen.add(message["item"]["id"])
            assert not b.services.hub.core.epoch.startswith("local-")
            await ws.close()
    finally:
        for node in nodes:
            await stop_node(node)
        await own.stop()
