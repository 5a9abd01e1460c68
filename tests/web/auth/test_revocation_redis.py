"""Revocation across two nodes through the real Redis on 127.0.0.1:6379 (skipped if it is not there).

Both nodes share one database file and one Redis prefix, like two ``lantern serve`` processes.  What an
admin does on node A reaches the websockets and console streams held by node B without waiting for B's
sign-in cache to expire, and a push token rotated on A works on B at once while the old one stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from broadcast.ws import CLOSE_RECONNECT, CLOSE_SIGNED_OUT
from tests.conftest import FakeClock
from tests.support_monitor import FakeClassifier
from tests.support_servers import REDIS_URL
from tests.web.auth.test_revocation import NOW, Site, closed_with, publish, refused, start_site, still_open, stop_site
from web.compose import Part

pytestmark = pytest.mark.redis
PARTS = {Part.BROADCAST, Part.MONITOR, Part.CONSOLE, Part.FANOUT}


@pytest.fixture
async def nodes(tmp_path: Path, prefix: str) -> AsyncIterator[tuple[Site, Site]]:
    clock = FakeClock(NOW)
    overrides = {"redis__url": REDIS_URL, "redis__prefix": prefix, "monitor__enabled": False}
    a = await start_site(tmp_path, clock, PARTS, classifier=FakeClassifier(), **overrides)
    b = await start_site(tmp_path, clock, PARTS, classifier=FakeClassifier(), like=a, **overrides)
    try:
        for node in (a, b):
            fanout = node.services.principal_fanout
            assert fanout.connected.is_set()
            fanout.retry_s = 0.05
        yield a, b
    finally:
        await stop_site(b)
        await stop_site(a)


async def test_deactivation_on_a_closes_the_users_socket_on_b(nodes: tuple[Site, Site]) -> None:
    a, b = nodes
    on_b, first = await b.ticker(b.tokens["ag"])
    manager_on_b, _ = await b.ticker(b.tokens["mgr"])
    assert first["type"] == "snapshot"
    assert await refused(b, b.tokens["ag"]) == 101  # and B has the agent's token cached now
    await a.call("root", "POST", f"/api/users/{a.ids['ag']}/deactivate")
    assert await closed_with(on_b) == (CLOSE_SIGNED_OUT, "deactivated")
    assert await refused(b, b.tokens["ag"]) == 401  # no waiting for web.auth_cache_seconds
    async with b.http.get(b.url("/api/me"), headers={"Authorization": f"Bearer {b.tokens['ag']}"}) as me:
        assert me.status == 401
    await still_open(manager_on_b)
    await manager_on_b.close()


async def test_a_token_revoked_on_a_ends_its_console_stream_on_b(nodes: tuple[Site, Site]) -> None:
    a, b = nodes
    stream = await b.stream(b.tokens["on"])
    listed = (await a.call("root", "GET", f"/api/users/{a.ids['on']}/tokens"))["items"]
    await a.call("root", "POST", f"/api/tokens/{listed[0]['id']}/revoke")
    assert (await stream.until("account")).data == {"action": "end", "reason": "token_revoked"}
    assert await stream.next() is None
    async with b.http.get(b.url("/api/live"), headers={"Authorization": f"Bearer {b.tokens['on']}"}) as again:
        assert again.status == 401


async def test_a_role_change_on_a_reconnects_the_client_on_b_into_its_new_snapshot(nodes: tuple[Site, Site]) -> None:
    a, b = nodes
    await publish(a, "热线口径", {"teams": ["hotline"]})
    await publish(a, "全员口径", {"teams": ["ops"]})
    ws = await ticker_showing(b, ["热线口径"])
    await a.call("root", "PATCH", f"/api/users/{a.ids['ag']}", json={"team": "ops", "skills": ["投诉"]})
    assert await closed_with(ws) == (CLOSE_RECONNECT, "changed")
    again, fresh = await b.ticker(b.tokens["ag"])
    assert fresh["type"] == "snapshot" and [i["title"] for i in fresh["items"]] == ["全员口径"]
    await again.close()


async def ticker_showing(node: Site, titles: list[str]) -> aiohttp.ClientWebSocketResponse:
    """The agent's socket on ``node`` once its snapshot shows ``titles`` (A's publications reach B via Redis)."""
    for _ in range(100):
        ws, snapshot = await node.ticker(node.tokens["ag"])
        if [i["title"] for i in snapshot["items"]] == titles:
            return ws
        await ws.close()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{titles} never reached the node")


async def push(node: Site, token: str) -> int:
    async with node.http.post(node.url("/api/ingest"), headers={"X-Lantern-Source-Token": token},
                              json={"items": [{"id": token[:8], "title": "鲜味楼", "text": "门店有老鼠"}]}) as resp:
        return resp.status


async def until_status(node: Site, token: str, expected: int) -> int:
    """What B answers a push with, once B has had the chance to apply A's change (a few Redis round trips)."""
    status = await push(node, token)
    for _ in range(100):
        if status == expected:
            break
        await asyncio.sleep(0.02)
        status = await push(node, token)
    return status


async def test_a_push_token_rotated_on_a_is_accepted_on_b_and_the_old_one_refused(nodes: tuple[Site, Site]) -> None:
    a, b = nodes
    created = await a.call("mgr", "POST", "/api/sources", json={"name": "crm-push", "kind": "push"})
    old = created["source"]["token"]
    assert await until_status(b, old, 200) == 200  # B loaded the new source from the shared database
    rotated = await a.call("root", "POST", "/api/sources/crm-push/token")
    new = rotated["token"]
    assert new != old
    assert await until_status(b, new, 200) == 200
    assert await push(b, old) == 401  # the same reload that let the new one in shut the old one out
    assert await push(a, old) == 401 and await push(a, new) == 200
    await a.call("mgr", "POST", "/api/sources/crm-push/pause")
    assert await until_status(b, new, 409) == 409  # paused on every node
    async with a.http.delete(a.url("/api/sources/crm-push"),
                             headers={"Authorization": f"Bearer {a.tokens['mgr']}"}) as deleted:
        assert deleted.status == 204
    assert await until_status(b, new, 401) == 401


async def test_a_node_that_lost_redis_rechecks_its_connections_when_it_is_back(nodes: tuple[Site, Site]) -> None:
    """Pub/sub keeps nothing: B, cut off while someone was deactivated, finds out when it subscribes again."""
    _a, b = nodes
    fanout_b = b.services.principal_fanout
    on_b, _ = await b.ticker(b.tokens["ag"])
    assert fanout_b.redis is not None
    # The user is deactivated behind B's back (as if A's message fell into the gap), then B's subscription is
    # cut (Redis CLIENT KILL of its pub/sub connection, found by its client name).
    admin = fanout_b.redis
    clients = await admin.client_list(_type="pubsub")
    ours = [c for c in clients if c.get("name") == fanout_b.client_name]
    assert ours, json.dumps(clients)
    sessions = fanout_b.sessions
    await b.services.db.write(lambda db: db.execute("update users set active = 0 where id = ?", [b.ids["ag"]]).rowcount)
    for client in ours:
        await admin.client_kill_filter(_id=client["id"])
    assert await closed_with(on_b) == (CLOSE_SIGNED_OUT, "recheck")
    assert fanout_b.sessions == sessions + 1
