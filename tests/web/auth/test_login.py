"""Login, logout, sessions, CSRF and login rate limiting against the real app."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from yarl import URL

from tests.conftest import FakeClock
from web.app import create_app
from web.auth import users
from web.auth.security import LoginLimiter
from web.compose import build_services
from web.platform.settings import load_settings

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


PASSWORD = "correct horse battery"


async def make_client(tmp_path: Path, clock: FakeClock, **overrides: Any) -> TestClient:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), **overrides)
    services = await build_services(settings, clock=clock, parts=())
    now = clock()

    def seed(db: Any) -> None:
        users.add_user(db, "mgr", "manager", PASSWORD, now=now)
        users.add_user(db, "agent1", "agent", PASSWORD, team="queue-a", now=now)

    await services.db.write(seed)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    return client


@pytest.fixture
async def client(tmp_path: Path) -> Any:
    c = await make_client(tmp_path, FakeClock(1_700_000_000.0))
    yield c
    await c.close()
    c.server.app["services"].db.close()


def form_nonce(html: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def login(client: TestClient, name: str, password: str, next_path: str = "") -> Any:
    page = await client.get("/login")
    nonce = form_nonce(await page.text())
    return await client.post("/login", data={"name": name, "password": password, "_csrf": nonce,
                                             "next": next_path}, allow_redirects=False)


async def test_login_sets_hardened_cookie_and_redirects_by_role(client: TestClient) -> None:
    response = await login(client, "mgr", PASSWORD)
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = response.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("lantern_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session
    assert "Secure" not in session
    console = await client.get("/", allow_redirects=False)
    assert console.status == 200
    html = await console.text()
    assert re.search(r'<meta name="csrf-token" content="[0-9a-f]{64}">', html)


async def test_agent_lands_on_ticker_and_cannot_open_console(tmp_path: Path) -> None:
    client = await make_client(tmp_path, FakeClock(1_700_000_000.0))
    try:
        response = await login(client, "agent1", PASSWORD)
        assert response.headers["Location"] == "/ticker"
        root = await client.get("/", allow_redirects=False)
        assert root.status == 302 and root.headers["Location"] == "/ticker"
        console = await client.get("/console", allow_redirects=False)
        assert console.status == 403
        ticker = await client.get("/ticker")
        assert ticker.status == 200
    finally:
        await client.close()
        client.server.app["services"].db.close()


async def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    client = await make_client(tmp_path, FakeClock(1_700_000_000.0), auth__cookie_secure=True)
    try:
        page = await client.get("/login")
        nonce_cookie = next(c for c in page.headers.getall("Set-Cookie") if c.startswith("lantern_login="))
        assert "Secure" in nonce_cookie and "SameSite=Strict" in nonce_cookie
        nonce = form_nonce(await page.text())
        # The test client is plain HTTP, so it would not send a Secure cookie back by itself.
        response = await client.post("/login", data={"name": "mgr", "password": PASSWORD, "_csrf": nonce},
                                     cookies={"lantern_login": nonce}, allow_redirects=False)
        assert response.status == 303
        session = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("lantern_session="))
        assert "Secure" in session and "HttpOnly" in session
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        await client.close()
        client.server.app["services"].db.close()


async def test_wrong_password_is_rejected_without_session(client: TestClient) -> None:
    response = await login(client, "mgr", "not the password")
    assert response.status == 401
    assert "用户名或密码错误" in await response.text()
    assert not any(c.startswith("lantern_session=") for c in response.headers.getall("Set-Cookie", []))


async def test_login_without_form_nonce_is_refused(client: TestClient) -> None:
    response = await client.post("/login", data={"name": "mgr", "password": PASSWORD}, allow_redirects=False)
    assert response.status == 403


async def test_next_must_be_local(client: TestClient) -> None:
    response = await login(client, "mgr", PASSWORD, next_path="//evil.example/x")
    assert response.headers["Location"] == "/"
    await client.post("/logout", headers={"X-CSRF-Token": await csrf_of(client)}, allow_redirects=False)
    response = await login(client, "mgr", PASSWORD, next_path="/ticker?x=1")
    assert response.headers["Location"] == "/ticker?x=1"


async def test_anonymous_page_redirects_to_login_with_next(client: TestClient) -> None:
    response = await client.get("/ticker?a=1&b=2", allow_redirects=False)
    assert response.status == 302
    location = URL(response.headers["Location"])
    assert location.path == "/login" and location.query["next"] == "/ticker?a=1&b=2"
    api = await client.get("/api/me")
    assert api.status == 401 and (await api.json())["error"] == "unauthenticated"


async def csrf_of(client: TestClient) -> str:
    me = await client.get("/api/me")
    return str((await me.json())["csrf_token"])


async def test_cookie_requests_need_csrf_token_for_changes(client: TestClient) -> None:
    await login(client, "mgr", PASSWORD)
    refused = await client.post("/logout", allow_redirects=False)
    assert refused.status == 403 and (await refused.json())["error"] == "csrf"
    still_in = await client.get("/api/me")
    assert still_in.status == 200
    token = await csrf_of(client)
    page = await client.get("/console")
    assert f'content="{token}"' in await page.text()
    out = await client.post("/logout", headers={"X-CSRF-Token": token}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    gone = await client.get("/api/me")
    assert gone.status == 401


async def test_logout_ends_session_server_side(client: TestClient) -> None:
    await login(client, "mgr", PASSWORD)
    session = client.session.cookie_jar.filter_cookies(client.make_url("/"))["lantern_session"].value
    await client.post("/logout", headers={"X-CSRF-Token": await csrf_of(client)}, allow_redirects=False)
    replay = await client.get("/api/me", cookies={"lantern_session": session})
    assert replay.status == 401


async def test_session_expires_by_clock(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    client = await make_client(tmp_path, clock, auth__session_hours=1)
    try:
        await login(client, "mgr", PASSWORD)
        assert (await client.get("/api/me")).status == 200
        clock.advance(3601)
        assert (await client.get("/api/me")).status == 401
    finally:
        await client.close()
        client.server.app["services"].db.close()


async def test_login_rate_limit_per_user_and_address(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    client = await make_client(tmp_path, clock, auth__login_attempts_per_minute=3)
    try:
        for _ in range(3):
            assert (await login(client, "mgr", "wrong-password")).status == 401
        limited = await login(client, "mgr", PASSWORD)  # even the right password waits
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert "请" in await limited.text()
        other = await login(client, "agent1", PASSWORD)  # another user from the same address is fine
        assert other.status == 303
        client.session.cookie_jar.clear()
        clock.advance(61)
        assert (await login(client, "mgr", PASSWORD)).status == 303
    finally:
        await client.close()
        client.server.app["services"].db.close()


class CountingHasher(PasswordHasher):
    """The test-cost argon2id hasher, counting how many passwords it checked."""

    checks = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        type(self).checks += 1
        return super().verify(hash, password)


async def test_concurrent_wrong_passwords_check_at_most_the_limit(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: 30 simultaneous guesses were all verified because failures were counted after argon2."""
    monkeypatch.setattr(users, "_hasher", CountingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    CountingHasher.checks = 0
    client = await make_client(tmp_path, FakeClock(1_700_000_000.0), auth__login_attempts_per_minute=5)
    try:
        page = await client.get("/login")
        nonce = form_nonce(await page.text())

        async def guess(i: int) -> int:
            response = await client.post("/login", data={"name": "mgr", "password": f"guess-{i}",
                                                         "_csrf": nonce}, allow_redirects=False)
            return response.status

        statuses = await asyncio.gather(*(guess(i) for i in range(30)))
        assert statuses.count(401) == 5 and statuses.count(429) == 25, statuses
        assert CountingHasher.checks == 5
        assert (await login(client, "mgr", PASSWORD)).status == 429  # the account waits out the minute
    finally:
        await client.close()
        client.server.app["services"].db.close()


def test_limiter_counts_before_the_check_and_gives_successes_back() -> None:
    clock = FakeClock(1_700_000_000.0)
    limiter = LoginLimiter(2, clock=clock, per_address_factor=2)  # 2 per user, 4 per address
    assert limiter.attempt("a", "10.0.0.1")[0] == 0
    assert limiter.attempt("a", "10.0.0.1")[0] == 0
    wait, _ = limiter.attempt("a", "10.0.0.1")
    assert 0 < wait <= 60
    for name in ("b", "c", "d", "e", "f"):  # correct logins never use up the address's allowance
        allowed, at = limiter.attempt(name, "10.0.0.1")
        assert allowed == 0, name
        limiter.succeeded(name, "10.0.0.1", at)
    assert limiter.attempt("b", "10.0.0.2")[0] == 0  # another address is not affected
    clock.advance(61)
    assert limiter.attempt("a", "10.0.0.1")[0] == 0


async def test_login_page_language_switch(client: TestClient) -> None:
    english = await client.get("/login?lang=en")
    text = await english.text()
    assert '<html lang="en">' in text and "Sign in" in text
    again = await client.get("/login")  # the choice is kept in a cookie
    assert "Sign in" in await again.text()
    chinese = await client.get("/login?lang=zh-CN")
    assert "登录" in await chinese.text()


async def test_default_language_from_settings(tmp_path: Path) -> None:
    client = await make_client(tmp_path, FakeClock(1_700_000_000.0), server__language="en")
    try:
        assert '<html lang="en">' in await (await client.get("/login")).text()
    finally:
        await client.close()
        client.server.app["services"].db.close()


async def test_bearer_tokens_skip_csrf_and_deactivation_revokes_them(client: TestClient) -> None:
    services = client.server.app["services"]
    now = services.clock()

    def make(db: Any) -> tuple[str, str]:
        admin = users.add_user(db, "root", "admin", PASSWORD, now=now)
        victim = users.find_user(db, "agent1")
        assert victim is not None
        return users.create_token(db, admin, "t", now=now), users.create_token(db, victim, "t", now=now)

    admin_token, agent_token = await services.db.write(make)
    agent_headers = {"Authorization": f"Bearer {agent_token}"}
    assert (await client.get("/api/me", headers=agent_headers)).status == 200
    listing = await client.get("/api/users", headers={"Authorization": f"Bearer {admin_token}"})
    agent_id = next(u["id"] for u in (await listing.json())["items"] if u["name"] == "agent1")
    done = await client.post(f"/api/users/{agent_id}/deactivate",
                             headers={"Authorization": f"Bearer {admin_token}"})
    assert done.status == 200
    assert (await client.get("/api/me", headers=agent_headers)).status == 401


async def test_cookie_websocket_handshake_from_another_origin_is_anonymous(client: TestClient) -> None:
    from web.auth.middleware import authenticate

    await login(client, "mgr", PASSWORD)
    session = client.session.cookie_jar.filter_cookies(client.make_url("/"))["lantern_session"].value
    app = client.server.app
    from aiohttp.test_utils import make_mocked_request

    def handshake(origin: str | None) -> Any:
        headers = {"Cookie": f"lantern_session={session}", "Host": "lantern.example"}
        if origin:
            headers["Origin"] = origin
        return make_mocked_request("GET", "/ws/ticker", headers=headers, app=app)

    assert (await authenticate(handshake("http://lantern.example")))[0] is not None
    assert (await authenticate(handshake(None)))[0] is not None
    assert (await authenticate(handshake("http://evil.example")))[0] is None
    assert (await authenticate(handshake("http://lantern.example.evil.example")))[0] is None
