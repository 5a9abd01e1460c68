"""Client addresses behind reverse proxies: X-Forwarded-For counts only from web.trusted_proxies."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from tests.conftest import FakeClock
from web.app import create_app
from web.auth import users
from web.auth.client_address import TrustedProxies, parse_address, parse_networks
from web.cli.serve import AccessLogger
from web.compose import Part, build_services
from web.errors import ConfigError
from web.platform.settings import load_settings

NOW = 1_800_000_000.0
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


# -- the rule itself ---------------------------------------------------------------------------
PROXIES = TrustedProxies(parse_networks(["10.0.0.0/8", "2001:db8:ffff::/48"]))


@pytest.mark.parametrize(("peer", "headers", "client"), [
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not from a proxy: the header is a forgery
    ("10.0.0.1", [], "10.0.0.1"),  # the proxy itself (health check)
    ("10.0.0.1", ["198.51.100.7"], "198.51.100.7"),
    ("10.0.0.1", ["1.1.1.1, 198.51.100.7"], "198.51.100.7"),  # the left part is the client's own claim
    ("10.0.0.1", ["1.1.1.1, 198.51.100.7, 10.0.0.2"], "198.51.100.7"),  # two proxies
    ("10.0.0.1", ["1.1.1.1", "198.51.100.7, 10.0.0.2"], "198.51.100.7"),  # several headers, in order
    ("10.0.0.1", ["10.9.9.9, 10.0.0.2"], "10.9.9.9"),  # all internal: the left-most hop
    ("10.0.0.1", ["1.1.1.1, not-an-ip"], "10.0.0.1"),  # garbage from the proxy: keep the proxy
    ("10.0.0.1", ["[2001:db8::5]:443"], "2001:db8::5"),
    ("10.0.0.1", ["198.51.100.7:5123"], "198.51.100.7"),
    ("::ffff:10.0.0.1", ["198.51.100.7"], "198.51.100.7"),  # IPv4-mapped peer is the IPv4 proxy
    ("2001:db8:ffff::1", ["2001:db8::5"], "2001:db8::5"),
    (None, ["198.51.100.7"], None),
])
def test_right_most_untrusted_address_is_the_client(peer: str | None, headers: list[str],
                                                    client: str | None) -> None:
    assert PROXIES.client(peer, headers) == client


def test_no_trusted_proxies_ignores_the_header() -> None:
    assert TrustedProxies().client("10.0.0.1", ["198.51.100.7"]) == "10.0.0.1"


def test_addresses_and_networks_are_parsed_strictly() -> None:
    assert parse_address("::ffff:192.0.2.1") == parse_address("192.0.2.1")
    assert parse_address("unknown") is None and parse_address("") is None
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_networks(["10.0.0.0/33"])


def test_bad_setting_is_a_clear_config_error(tmp_path: Path) -> None:
    config = tmp_path / "lantern.toml"
    config.write_text('[web]\ntrusted_proxies = ["10.0.0.0/8", "proxy.example"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"web.trusted_proxies: 'proxy.example' is not an IP address"):
        load_settings(config, env={})
    assert load_settings(env={"LANTERN_WEB_TRUSTED_PROXIES": "127.0.0.1, ::1"})["web.trusted_proxies"] == [
        "127.0.0.1", "::1"]


# -- the real app: login limiter, access log, websocket --------------------------------------
Factory = Callable[..., Any]


@pytest.fixture
async def server_for(tmp_path: Path) -> AsyncIterator[Factory]:
    made: list[tuple[TestServer, Any]] = []

    async def make(trusted: list[str]) -> TestServer:
        settings = load_settings(env={}).with_overrides(
            storage__path=str(tmp_path / f"l{len(made)}.db"), web__trusted_proxies=trusted,
            auth__login_attempts_per_minute=2)
        services = await build_services(settings, clock=FakeClock(NOW), parts={Part.BROADCAST})
        await services.db.write(lambda db: users.add_user(db, "mgr", "manager", PASSWORD, now=NOW))
        server = TestServer(create_app(services), host="127.0.0.1")
        await server.start_server(access_log_class=AccessLogger)  # as `lantern serve` logs
        made.append((server, services))
        return server

    yield make
    for server, services in made:
        await server.close()
        services.db.close()


async def login(http: aiohttp.ClientSession, server: TestServer, password: str, client: str) -> int:
    headers = {"X-Forwarded-For": f"6.6.6.6, {client}"}
    page = await http.get(server.make_url("/login"), headers=headers)
    nonce = re.search(r'name="_csrf" value="([^"]+)"', await page.text())
    assert nonce
    response = await http.post(server.make_url("/login"), headers=headers, allow_redirects=False,
                               data={"name": "mgr", "password": password, "_csrf": nonce.group(1)})
    return response.status


async def test_login_limiter_counts_the_forwarded_client_behind_a_trusted_proxy(server_for: Factory) -> None:
    server = await server_for(["127.0.0.1/32"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert [await login(http, server, "wrong-password", "198.51.100.7") for _ in range(2)] == [401, 401]
        assert await login(http, server, PASSWORD, "198.51.100.7") == 429
        # Another client behind the same proxy is not punished for the first one's typos.
        assert await login(http, server, PASSWORD, "198.51.100.8") == 303


async def test_a_client_cannot_spoof_its_address_without_trusted_proxies(server_for: Factory) -> None:
    server = await server_for([])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert [await login(http, server, "wrong-password", "198.51.100.7") for _ in range(2)] == [401, 401]
        # A fresh X-Forwarded-For does not buy fresh attempts: the limiter still sees 127.0.0.1.
        assert await login(http, server, PASSWORD, "198.51.100.8") == 429


async def test_access_log_shows_the_client(server_for: Factory, caplog: pytest.LogCaptureFixture) -> None:
    trusted = await server_for(["127.0.0.0/8"])
    untrusted = await server_for([])
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with aiohttp.ClientSession() as http:
            for server in (trusted, untrusted):
                async with http.get(server.make_url("/healthz"), headers={"X-Forwarded-For": "198.51.100.7"}) as r:
                    assert r.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access" and "/healthz" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("198.51.100.7 ") and lines[1].startswith("127.0.0.1 ")
    assert "198.51.100.7" not in lines[1]


async def test_websocket_and_api_work_behind_a_trusted_proxy(server_for: Factory) -> None:
    server = await server_for(["127.0.0.1"])
    services = server.app["services"]
    token = await services.db.write(lambda db: users.create_token(db, users.find_user(db, "mgr"), "t", now=NOW))
    forwarded = {"X-Forwarded-For": "198.51.100.7", "Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/api/me"), headers=forwarded) as resp:
            assert resp.status == 200
        ws = await http.ws_connect(server.make_url("/ws/ticker"), headers=forwarded)
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "snapshot"
        await ws.close()
