"""Console events across two nodes through the real Redis on 127.0.0.1:6379 (skipped if it is not there)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from tests.conftest import FakeClock, add_account
from tests.support_servers import REDIS_URL
from tests.web.realtime.test_console_stream import Stream
from web.app import create_app
from web.auth import users
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def start(tmp_path: Path, prefix: str, clock: FakeClock) -> tuple[Services, TestServer]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "shared.db"),
                                                    redis__url=REDIS_URL, redis__prefix=prefix)
    services = await build_services(settings, clock=clock,
        parts={Part.BROADCAST, Part.CONSOLE})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    services.console_fanout.retry_s = 0.05
    return services, server


async def test_an_event_on_one_node_reaches_consoles_on_the_other(tmp_path: Path, prefix: str) -> None:
    clock = FakeClock(1_800_000_000.0)
    a, server_a = await start(tmp_path, prefix, clock)
    b, server_b = await start(tmp_path, prefix, clock)
    admin = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        author = await add_account(a, "wang", "manager", "pr")
        watcher = await add_account(a, "zhou", "oncall", "ops")
        async with aiohttp.ClientSession() as http:
            async def stream(server: TestServer) -> Stream:
                response = await http.get(server.make_url("/api/live"), headers=watcher.headers)
                assert response.status == 200
                opened = Stream(response)
                assert (await opened.next()).kind == "ready"  # type: ignore[union-attr]
                return opened

            on_a, on_b = await stream(server_a), await stream(server_b)
            async with http.post(server_a.make_url("/api/scripts"), headers=author.headers,
                                 json={"title": "甲节点草稿", "body": "正文"}) as created:
                draft = await created.json()
            expected = {"id": draft["id"], "version": 1, "state": "draft"}
            assert (await on_b.until("script")).data == expected
            assert (await on_a.until("script")).data == expected
            # Node B numbers the remote event itself: ids are per node.
            assert b.live.ring[-1].data == expected and a.live.epoch != b.live.epoch

            # Node B's subscription breaks (Redis restarted, a network blip): its consoles resync,
            # because pub/sub kept nothing for it meanwhile.
            fanout = b.console_fanout
            names = [c["id"] for c in await admin.client_list() if c.get("name") == fanout.client_name]
            assert names  # its pub/sub connection (and the one it publishes on)
            for client_id in names:
                await admin.execute_command("CLIENT", "KILL", "ID", client_id)
            assert (await on_b.until("resync")).data == {"polling": True}
            assert fanout.sessions == 2
            # ... and the fan-out works again afterwards.
            async with http.post(server_a.make_url(f"/api/scripts/{draft['id']}/submit"), headers=author.headers,
                                 json={"version": 1}) as submitted:
                assert submitted.status == 200
            assert (await on_b.until("script")).data["state"] == "in_review"
            for opened in (on_a, on_b):
                opened.response.close()
    finally:
        await admin.aclose()
        for server, services in ((server_a, a), (server_b, b)):
            await server.close()
            services.db.close()
