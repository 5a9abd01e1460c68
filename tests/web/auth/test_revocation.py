"""Revocation on one node: open ticker websockets and console streams close the moment a user's sign-in ends.

Real server, real websocket clients and Server-Sent Events readers.  A
deactivated user, a revoked token, a logout or a password change closes what
it concerns with the "signed out" code (4401, no reconnect); a role, team,
skills or site change closes with the "reconnect" code (4205) and the client
that reconnects gets a snapshot for its new targeting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from broadcast.ws import CLOSE_RECONNECT, CLOSE_SIGNED_OUT
from monitor.pipeline import MentionClassifier
from tests.conftest import FakeClock
from tests.web.realtime.test_console_stream import Stream
from web.app import create_app
from web.auth import revocation, users
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same argon2id code path at a test-sized cost (production keeps argon2's defaults)."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass
class Site:
    services: Services
    server: TestServer
    http: aiohttp.ClientSession
    tokens: dict[str, str]
    ids: dict[str, int]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.url(path), headers={"Authorization": f"Bearer {self.tokens[who]}"},
                                     **kwargs) as resp:
            assert resp.status < 300, (resp.status, await resp.text())
            return await resp.json()

    async def ticker(self, token: str | None = None, *, http: aiohttp.ClientSession | None = None,
                     headers: dict[str, str] | None = None) -> tuple[ClientConnection, dict[str, Any]]:
        """An open ticker websocket (a ``websockets`` client) and its first message.

        Signed in by ``token`` in the query, else by the session cookie ``http`` holds (as a browser would send it).
        """
        url = self.server.make_url(f"/ws/ticker?token={token}" if token else "/ws/ticker")
        sent = dict(headers or {})
        cookies = (http or self.http).cookie_jar.filter_cookies(url)
        if cookies:
            sent["Cookie"] = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
        ws = await connect(str(url.with_scheme("ws")), additional_headers=sent)
        return ws, json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    async def stream(self, token: str) -> Stream:
        response = await self.http.get(self.url("/api/live"), headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        opened = Stream(response)
        assert (await opened.next()).kind == "ready"  # type: ignore[union-attr]
        return opened


async def closed_with(ws: ClientConnection) -> tuple[int | None, str]:
    """Read to the close frame: (close code, reason).  Fails if the server sends anything else first."""
    with pytest.raises(ConnectionClosed) as ended:
        message = await asyncio.wait_for(ws.recv(), timeout=10)
        raise AssertionError(f"a message before the close frame: {message!r}")
    assert ended.value.rcvd is not None, "closed without a close frame"
    return ended.value.rcvd.code, ended.value.rcvd.reason


async def still_open(ws: ClientConnection) -> None:
    """The socket answers a ping: it was not closed."""
    await ws.send(json.dumps({"type": "ping"}))
    message = await asyncio.wait_for(ws.recv(), timeout=10)
    assert json.loads(message)["type"] == "pong", message


async def refused(site: Site, token: str) -> int:
    try:
        ws = await connect(str(site.server.make_url(f"/ws/ticker?token={token}").with_scheme("ws")))
    except InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return 101


async def start_site(tmp_path: Path, clock: FakeClock, parts: Collection[Part], *, like: Site | None = None,
                     classifier: MentionClassifier | None = None, **overrides: Any) -> Site:
    """A node on ``tmp_path/l.db``; ``like``: another node on the same database (its users, not seeded again)."""
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), **overrides)
    services = await build_services(settings, clock=clock, parts=parts, classifier=classifier)

    def seed(db: Any) -> tuple[dict[str, str], dict[str, int]]:
        tokens, ids = {}, {}
        for name, role, team in (("root", "admin", "ops"), ("mgr", "manager", "pr"), ("ag", "agent", "hotline"),
                                 ("on", "oncall", "ops")):
            made = users.add_user(db, name, role, f"{name}-password", team=team, now=clock())
            tokens[name], ids[name] = users.create_token(db, made, "test", now=clock()), made.id
        tokens["ag2"] = users.create_token(db, users.find_user(db, "ag"), "second", now=clock())  # type: ignore[arg-type]
        return tokens, ids

    tokens, ids = (like.tokens, like.ids) if like is not None else await services.db.write(seed)
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    return Site(services, server, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)), tokens, ids)


async def stop_site(site: Site) -> None:
    await site.http.close()
    await site.server.close()
    site.services.db.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    started = await start_site(tmp_path, FakeClock(NOW), {Part.BROADCAST, Part.CONSOLE})
    yield started
    await stop_site(started)


async def publish(site: Site, title: str, audience: dict[str, Any]) -> int:
    sid = (await site.call("mgr", "POST", "/api/scripts", json={"title": title, "body": f"{title} 正文",
                                                                 "audience": audience}))["id"]
    await site.call("mgr", "POST", f"/api/scripts/{sid}/submit")
    await site.call("root", "POST", f"/api/scripts/{sid}/approve")
    await site.call("mgr", "POST", f"/api/scripts/{sid}/publish")
    return int(sid)


async def sign_in(site: Site, http: aiohttp.ClientSession, name: str, password: str) -> None:
    page = await http.get(site.url("/login"))
    nonce = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    done = await http.post(site.url("/login"), allow_redirects=False,
                           data={"name": name, "password": password, "_csrf": nonce})
    assert done.status == 303


async def test_deactivation_closes_every_socket_and_stream_of_the_user(site: Site) -> None:
    ag1, first = await site.ticker(site.tokens["ag"])
    ag2, _ = await site.ticker(site.tokens["ag2"])
    other, _ = await site.ticker(site.tokens["mgr"])
    assert first["type"] == "snapshot"
    await site.call("root", "POST", f"/api/users/{site.ids['ag']}/deactivate")
    assert await closed_with(ag1) == (CLOSE_SIGNED_OUT, "deactivated")
    assert await closed_with(ag2) == (CLOSE_SIGNED_OUT, "deactivated")
    await still_open(other)
    assert await refused(site, site.tokens["ag"]) == 401
    assert len(revocation.connections(site.services)) == 1  # only the manager's socket is still held
    await other.close()


async def test_a_revoked_token_closes_only_what_was_opened_with_it(site: Site) -> None:
    with_first, _ = await site.ticker(site.tokens["ag"])
    with_second, _ = await site.ticker(site.tokens["ag2"])
    listed = (await site.call("root", "GET", f"/api/users/{site.ids['ag']}/tokens"))["items"]
    second_id = next(t["id"] for t in listed if t["label"] == "second")
    await site.call("root", "POST", f"/api/tokens/{second_id}/revoke")
    assert await closed_with(with_second) == (CLOSE_SIGNED_OUT, "token_revoked")
    await still_open(with_first)
    assert await refused(site, site.tokens["ag2"]) == 401
    assert await refused(site, site.tokens["ag"]) == 101
    await with_first.close()


async def test_a_revoked_token_ends_its_console_stream_with_an_account_event(site: Site) -> None:
    mine = await site.stream(site.tokens["on"])
    others = await site.stream(site.tokens["mgr"])
    listed = (await site.call("root", "GET", f"/api/users/{site.ids['on']}/tokens"))["items"]
    await site.call("root", "POST", f"/api/tokens/{listed[0]['id']}/revoke")
    last = await mine.until("account")
    assert last.data == {"action": "end", "reason": "token_revoked"} and last.id == ""
    assert await mine.next() is None  # and the server ended the stream
    async with site.http.get(site.url("/api/live"), headers={"Authorization": f"Bearer {site.tokens['on']}"}) as again:
        assert again.status == 401
    draft = await site.call("mgr", "POST", "/api/scripts", json={"title": "草稿", "body": "正文"})
    assert (await others.until("script")).data["id"] == draft["id"]  # the manager's stream goes on
    others.response.close()


async def test_a_role_change_reconnects_the_client_into_its_new_audience(site: Site) -> None:
    await publish(site, "热线口径", {"teams": ["hotline"]})
    await publish(site, "公关口径", {"teams": ["pr"]})
    ws, snapshot = await site.ticker(site.tokens["ag"])
    assert [i["title"] for i in snapshot["items"]] == ["热线口径"]
    stream = await site.stream(site.tokens["mgr"])
    await site.call("root", "PATCH", f"/api/users/{site.ids['ag']}", json={"team": "pr"})
    assert await closed_with(ws) == (CLOSE_RECONNECT, "changed")
    again, fresh = await site.ticker(site.tokens["ag"])  # the same token still signs in
    assert fresh["type"] == "snapshot" and [i["title"] for i in fresh["items"]] == ["公关口径"]
    await site.call("root", "PATCH", f"/api/users/{site.ids['mgr']}", json={"site": "成都"})
    assert (await stream.until("account")).data == {"action": "reconnect", "reason": "changed"}
    assert await stream.next() is None
    await again.close()


async def test_logout_and_password_change_close_session_sockets_but_not_token_sockets(site: Site) -> None:
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await sign_in(site, browser, "ag", "ag-password")
        by_cookie, _ = await site.ticker(http=browser)
        by_token, _ = await site.ticker(site.tokens["ag"])
        page = await browser.get(site.url("/logout"))
        csrf = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        await browser.post(site.url("/logout"), data={"_csrf": csrf}, allow_redirects=False)
        assert await closed_with(by_cookie) == (CLOSE_SIGNED_OUT, "logout")
        await still_open(by_token)

        await sign_in(site, browser, "ag", "ag-password")
        by_cookie, _ = await site.ticker(http=browser)
        await site.call("root", "POST", f"/api/users/{site.ids['ag']}/password", json={"password": "a-new-password"})
        assert await closed_with(by_cookie) == (CLOSE_SIGNED_OUT, "password")
        await still_open(by_token)  # an admin's password reset keeps API tokens
        await by_token.close()
    finally:
        await browser.close()


async def test_recheck_after_an_outage_closes_what_changed_meanwhile(site: Site) -> None:
    """Changes made behind this node's back (another node while the fan-out was away) are found by a recheck."""
    gone, _ = await site.ticker(site.tokens["ag"])
    moved, _ = await site.ticker(site.tokens["mgr"])
    kept, _ = await site.ticker(site.tokens["on"])
    now = site.services.clock()
    await site.services.db.write(lambda db: (users.deactivate_user(db, site.ids["ag"]),
                                             users.update_user(db, site.ids["mgr"], team="service")))
    await still_open(gone)  # nobody told this node
    assert await revocation.recheck(site.services) == 2
    assert await closed_with(gone) == (CLOSE_SIGNED_OUT, "recheck")
    assert await closed_with(moved) == (CLOSE_RECONNECT, "recheck")
    await still_open(kept)
    assert site.services.clock() == now
    await kept.close()


async def test_reactivation_lets_the_user_sign_in_again_but_not_with_old_tokens(site: Site) -> None:
    await site.call("root", "POST", f"/api/users/{site.ids['ag']}/deactivate")
    listed = (await site.call("root", "GET", "/api/users?all=1"))["items"]
    assert next(u for u in listed if u["name"] == "ag")["active"] is False
    back = await site.call("root", "POST", f"/api/users/{site.ids['ag']}/reactivate")
    assert back["user"]["active"] is True and back["user"]["name"] == "ag"
    assert await refused(site, site.tokens["ag"]) == 401  # deactivation revoked its tokens for good
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await sign_in(site, browser, "ag", "ag-password")
        ws, first = await site.ticker(http=browser)
        assert first["type"] == "snapshot"
        await ws.close()
    finally:
        await browser.close()
    async with site.http.post(site.url(f"/api/users/{site.ids['ag']}/reactivate"),
                              headers={"Authorization": f"Bearer {site.tokens['root']}"}) as twice:
        assert twice.status == 409
    async with site.http.post(site.url("/api/users/999/reactivate"),
                              headers={"Authorization": f"Bearer {site.tokens['root']}"}) as nobody:
        assert nobody.status == 404
    async with site.http.post(site.url(f"/api/users/{site.ids['ag']}/reactivate"),
                              headers={"Authorization": f"Bearer {site.tokens['mgr']}"}) as manager:
        assert manager.status == 403


def test_a_change_survives_the_wire_and_bad_ones_are_refused() -> None:
    change = revocation.PrincipalChange(7, revocation.TOKEN_REVOKED, 3, "token:" + "a" * 64)
    assert revocation.PrincipalChange.from_dict(json.loads(json.dumps(change.as_dict()))) == change
    for bad in ({"user_id": "7", "reason": "deactivated"}, {"user_id": 7, "reason": "fired"},
                {"user_id": 7, "reason": "changed", "token_id": True}, [7]):
        with pytest.raises(ValueError):
            revocation.PrincipalChange.from_dict(bad)
