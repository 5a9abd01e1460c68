"""The principal cache: token and session lookups skip SQLite, and every revocation applies at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from tests.conftest import FakeClock
from web.app import create_app
from web.auth import users
from web.auth.token_cache import PrincipalCache, cache_key
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same argon2id code path at a test-sized cost (production keeps argon2's defaults)."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def user(uid: int, role: str = "agent") -> users.User:
    return users.User(id=uid, name=f"u{uid}", role=role)


# -- the cache on its own -------------------------------------------------------------------
async def test_hit_miss_and_expiry_by_clock() -> None:
    clock = FakeClock(NOW)
    cache = PrincipalCache(clock, ttl_s=30)
    loads: list[str] = []

    async def load() -> tuple[users.User | None, float | None]:
        loads.append("db")
        return user(1), None

    assert await cache.lookup("token", "lt_a", load) == user(1)
    assert await cache.lookup("token", "lt_a", load) == user(1)
    assert loads == ["db"]
    clock.advance(29.9)
    await cache.lookup("token", "lt_a", load)
    assert loads == ["db"]
    clock.advance(0.2)  # 30.1 s after it was stored
    await cache.lookup("token", "lt_a", load)
    assert loads == ["db", "db"]
    assert cache.hits == 2 and cache.misses == 2


async def test_failed_lookups_are_remembered_only_briefly() -> None:
    clock = FakeClock(NOW)
    cache = PrincipalCache(clock, ttl_s=30, negative_ttl_s=2)
    loads = 0

    async def nobody() -> tuple[users.User | None, float | None]:
        nonlocal loads
        loads += 1
        return None, None

    for _ in range(50):  # a flood of one bad token reaches the database once
        assert await cache.lookup("token", "lt_bogus", nobody) is None
    assert loads == 1
    clock.advance(2.01)
    await cache.lookup("token", "lt_bogus", nobody)
    assert loads == 2


async def test_session_entries_never_outlive_the_session() -> None:
    clock = FakeClock(NOW)
    cache = PrincipalCache(clock, ttl_s=30)
    loads = 0

    async def load() -> tuple[users.User | None, float | None]:
        nonlocal loads
        loads += 1
        return user(1), NOW + 5  # the session itself ends in 5 s

    await cache.lookup("session", "s1", load)
    clock.advance(4.9)
    await cache.lookup("session", "s1", load)
    assert loads == 1
    clock.advance(0.2)
    await cache.lookup("session", "s1", load)
    assert loads == 2


def test_bounded_and_bad_tokens_cannot_push_users_out() -> None:
    cache = PrincipalCache(FakeClock(NOW), ttl_s=30, max_entries=3, max_negative=2)
    for i in range(3):
        cache.put(cache_key("token", f"good{i}"), user(i))
    assert cache.get(cache_key("token", "good0")) == (True, user(0))  # now the most recently used
    cache.put(cache_key("token", "good3"), user(3))  # evicts the least recently used: good1
    assert cache.get(cache_key("token", "good1")) == (False, None)
    assert cache.get(cache_key("token", "good0"))[0] and cache.get(cache_key("token", "good3"))[0]
    for i in range(100):
        cache.put(cache_key("token", f"bad{i}"), None)
    assert len(cache) == 3 + 2
    assert all(cache.get(cache_key("token", f"good{i}"))[0] for i in (0, 2, 3))


def test_forget_one_secret_or_everything_of_a_user() -> None:
    cache = PrincipalCache(FakeClock(NOW), ttl_s=30)
    cache.put(cache_key("token", "a"), user(1))
    cache.put(cache_key("session", "b"), user(1))
    cache.put(cache_key("token", "c"), user(2))
    cache.forget("token", "c")
    assert cache.get(cache_key("token", "c")) == (False, None)
    cache.forget_user(1)
    assert cache.get(cache_key("token", "a")) == (False, None)
    assert cache.get(cache_key("session", "b")) == (False, None)


async def test_a_lookup_running_during_a_revocation_is_not_stored() -> None:
    cache = PrincipalCache(FakeClock(NOW), ttl_s=30)
    answered = asyncio.Event()
    release = asyncio.Event()

    async def slow_load() -> tuple[users.User | None, float | None]:
        answered.set()
        await release.wait()
        return user(1), None  # what the database said before the revocation committed

    lookup = asyncio.create_task(cache.lookup("token", "lt_x", slow_load))
    await answered.wait()
    cache.forget_user(1)
    release.set()
    assert await lookup == user(1)
    assert cache.get(cache_key("token", "lt_x")) == (False, None)


async def test_zero_seconds_turns_the_cache_off() -> None:
    cache = PrincipalCache(FakeClock(NOW), ttl_s=0)
    loads = 0

    async def load() -> tuple[users.User | None, float | None]:
        nonlocal loads
        loads += 1
        return user(1), None

    await cache.lookup("token", "t", load)
    await cache.lookup("token", "t", load)
    assert loads == 2 and len(cache) == 0


def test_keys_hold_a_digest_not_the_secret() -> None:
    key = cache_key("token", "lt_supersecret")
    assert "supersecret" not in key and key.startswith("token:") and len(key) == len("token:") + 64


# -- the real app: API calls and websocket connects ----------------------------------------
@dataclass
class Node:
    services: Services
    server: TestServer
    http: aiohttp.ClientSession
    clock: FakeClock
    tokens: dict[str, str]

    async def status(self, path: str, token: str, method: str = "GET", **kwargs: Any) -> int:
        async with self.http.request(method, self.server.make_url(path),
                                     headers={"Authorization": f"Bearer {token}"}, **kwargs) as resp:
            return resp.status

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.server.make_url(path),
                                     headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kwargs) as resp:
            assert resp.status < 300, (resp.status, await resp.text())
            return await resp.json()

    async def websocket_status(self, token: str) -> int:
        """101 and a snapshot when the handshake is accepted, else the refusal's status."""
        try:
            ws = await self.http.ws_connect(self.server.make_url(f"/ws/ticker?token={token}"))
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        first = json.loads((await ws.receive(timeout=10)).data)
        assert first["type"] == "snapshot"
        await ws.close()
        return 101


async def start_node(services: Services, clock: FakeClock, tokens: dict[str, str]) -> Node:
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    return Node(services, server, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)), clock, tokens)


async def stop_node(node: Node) -> None:
    await node.http.close()
    await node.server.close()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    clock = FakeClock(NOW)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST})

    def seed(db: Any) -> dict[str, str]:
        tokens = {}
        for name, role in (("root", "admin"), ("mgr", "manager"), ("ag", "agent")):
            made = users.add_user(db, name, role, f"{name}-password", team="hotline", now=NOW)
            tokens[name] = users.create_token(db, made, "test", now=NOW)
        return tokens

    tokens = await services.db.write(seed)
    started = await start_node(services, clock, tokens)
    yield started
    await stop_node(started)
    services.db.close()


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Counts calls of ``users.<name>`` (the database lookup behind the cache)."""
    calls: list[int] = []
    real = getattr(users, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(users, name, spy)
    return calls


async def test_cached_token_skips_the_database_until_the_ttl(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = count_calls(monkeypatch, "user_for_token")
    token = node.tokens["ag"]
    assert await node.status("/api/me", token) == 200
    assert await node.websocket_status(token) == 101
    for _ in range(5):
        assert await node.status("/api/me", token) == 200
    assert len(lookups) == 1
    node.clock.advance(31)  # web.auth_cache_seconds = 30 by default
    assert await node.status("/api/me", token) == 200
    assert len(lookups) == 2


async def test_revoked_token_is_refused_at_once(node: Node) -> None:
    token = node.tokens["ag"]
    assert await node.websocket_status(token) == 101
    assert await node.status("/api/me", token) == 200  # cached now
    agent_id = next(u["id"] for u in (await node.call("root", "GET", "/api/users"))["items"] if u["name"] == "ag")
    listed = await node.call("root", "GET", f"/api/users/{agent_id}/tokens")
    assert [t["revoked"] for t in listed["items"]] == [False]
    assert "token" not in listed["items"][0] and token not in json.dumps(listed)
    await node.call("root", "POST", f"/api/tokens/{listed['items'][0]['id']}/revoke")
    # No clock advance: the very next connect and call are refused.
    assert await node.websocket_status(token) == 401
    assert await node.status("/api/me", token) == 401
    assert await node.status(f"/api/tokens/{listed['items'][0]['id'] + 99}/revoke", node.tokens["root"],
                             method="POST") == 404


async def test_new_token_is_shown_once_and_works(node: Node) -> None:
    agent_id = next(u["id"] for u in (await node.call("root", "GET", "/api/users"))["items"] if u["name"] == "ag")
    made = await node.call("root", "POST", f"/api/users/{agent_id}/tokens", json={"label": "CRM widget"})
    assert made["token"].startswith("lt_") and made["label"] == "CRM widget"
    assert await node.status("/api/me", made["token"]) == 200
    listed = await node.call("root", "GET", f"/api/users/{agent_id}/tokens")
    assert made["token"] not in json.dumps(listed) and [t["label"] for t in listed["items"]] == ["test", "CRM widget"]
    assert await node.status(f"/api/users/{agent_id}/tokens", node.tokens["mgr"], method="POST", json={}) == 403
    assert await node.status(f"/api/users/{agent_id}/tokens", node.tokens["root"], method="POST",
                             json={"label": 5}) == 400


async def test_deactivation_refuses_tokens_and_sockets_at_once(node: Node) -> None:
    token = node.tokens["ag"]
    assert await node.websocket_status(token) == 101
    agent_id = next(u["id"] for u in (await node.call("root", "GET", "/api/users"))["items"] if u["name"] == "ag")
    await node.call("root", "POST", f"/api/users/{agent_id}/deactivate")
    assert await node.websocket_status(token) == 401
    assert await node.status("/api/me", token) == 401


async def test_role_team_skills_site_changes_apply_at_once(node: Node) -> None:
    mgr = node.tokens["mgr"]
    assert await node.status("/api/users", mgr) == 403  # "not admin" is cached now
    mgr_id = next(u["id"] for u in (await node.call("root", "GET", "/api/users"))["items"] if u["name"] == "mgr")
    changed = await node.call("root", "PATCH", f"/api/users/{mgr_id}",
                              json={"role": "admin", "team": "pr", "skills": ["售后", "投诉"], "site": "成都"})
    assert changed["user"]["role"] == "admin" and changed["user"]["skills"] == ["售后", "投诉"]
    assert await node.status("/api/users", mgr) == 200
    me = (await node.call("mgr", "GET", "/api/me"))["user"]
    assert (me["team"], me["skills"], me["site"]) == ("pr", ["售后", "投诉"], "成都")
    await node.call("root", "PATCH", f"/api/users/{mgr_id}", json={"role": "agent", "skills": "售后"})
    assert await node.status("/api/users", mgr) == 403
    assert (await node.call("mgr", "GET", "/api/me"))["user"]["skills"] == ["售后"]
    listed = {u["name"]: u for u in (await node.call("root", "GET", "/api/users"))["items"]}
    assert listed["mgr"]["site"] == "成都" and listed["mgr"]["skills"] == ["售后"]


async def test_user_edits_are_validated(node: Node) -> None:
    root = node.tokens["root"]
    users_ = {u["name"]: u["id"] for u in (await node.call("root", "GET", "/api/users"))["items"]}
    for bad in ({"role": "boss"}, {"password": "x" * 12}, {"team": 5}, {"skills": [1]}):
        assert await node.status(f"/api/users/{users_['ag']}", root, method="PATCH", json=bad) == 400, bad
    assert await node.status(f"/api/users/{users_['root']}", root, method="PATCH", json={"role": "agent"}) == 400
    assert await node.status("/api/users/999", root, method="PATCH", json={"team": "x"}) == 404
    assert await node.status(f"/api/users/{users_['ag']}", node.tokens["mgr"], method="PATCH",
                             json={"role": "admin"}) == 403


async def test_password_change_ends_cached_sessions_at_once(node: Node) -> None:
    login_page = await node.http.get(node.server.make_url("/login"))
    text = await login_page.text()
    nonce = text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    done = await node.http.post(node.server.make_url("/login"), allow_redirects=False,
                                data={"name": "mgr", "password": "mgr-password", "_csrf": nonce})
    assert done.status == 303
    me = await node.http.get(node.server.make_url("/api/me"))
    assert me.status == 200  # the session is cached now
    mgr_id = (await me.json())["user"]["id"]
    await node.call("root", "POST", f"/api/users/{mgr_id}/password", json={"password": "a-new-password"})
    assert (await node.http.get(node.server.make_url("/api/me"))).status == 401


async def test_cached_session_lookup_skips_the_database(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = count_calls(monkeypatch, "session_user")
    login_page = await node.http.get(node.server.make_url("/login"))
    nonce = (await login_page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    await node.http.post(node.server.make_url("/login"), allow_redirects=False,
                         data={"name": "mgr", "password": "mgr-password", "_csrf": nonce})
    for _ in range(4):
        assert (await node.http.get(node.server.make_url("/api/me"))).status == 200
    assert len(lookups) == 1


async def test_another_node_sees_a_revocation_within_the_ttl(node: Node, tmp_path: Path) -> None:
    """Invalidation is per process: a second node on the same database refuses after its entry expires."""
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), web__auth_cache_seconds=10)
    other_services = await build_services(settings, clock=node.clock, parts={Part.BROADCAST})
    other = await start_node(other_services, node.clock, node.tokens)
    try:
        token = node.tokens["ag"]
        assert await other.status("/api/me", token) == 200
        agent_id = next(u["id"] for u in (await node.call("root", "GET", "/api/users"))["items"]
                        if u["name"] == "ag")
        await node.call("root", "POST", f"/api/users/{agent_id}/deactivate")
        assert await node.status("/api/me", token) == 401
        assert await other.status("/api/me", token) == 200  # still cached there
        node.clock.advance(10.5)
        assert await other.status("/api/me", token) == 401
    finally:
        await stop_node(other)
        other_services.db.close()


async def test_a_token_that_is_not_utf8_is_refused_not_an_error(node: Node) -> None:
    reader, writer = await asyncio.open_connection(node.server.host, node.server.port)
    writer.write(b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer lt_\xff\xfe\r\nConnection: close\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"401"
