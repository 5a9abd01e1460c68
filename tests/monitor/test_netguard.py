"""The outbound address guard against real servers on 127.0.0.1: fetches, redirects, channels, the API."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.channels.base import Message, open_session
from monitor.channels.errors import DeliveryError
from monitor.channels.registry import build_channels
from monitor.errors import FetchError
from monitor.http import FetchRequest, HttpFetcher
from monitor.netguard import BlockedAddressError, GuardedConnector, NetPolicy, parse_address
from monitor.service import MonitorService
from tests.fixtures.alerts.helpers import Clock as AlertClock
from tests.fixtures.alerts.helpers import make_services, settings_for
from tests.support_monitor import Clock, FakeClassifier, FeedServer, Route, fixture_bytes, monitor_client, open_db
from web.auth import users
from web.compose import Part, build_services
from web.configure import network_policy
from web.errors import ConfigError
from web.platform.settings import load_settings

PRIVATE = NetPolicy(block_private=True)
RSS = b"<rss><channel><item><title>t</title><link>http://x/1</link></item></channel></rss>"


def rule(policy: NetPolicy, text: str) -> str | None:
    ip = parse_address(text)
    assert ip is not None, text
    return policy.rule_for(ip)


# -- the rules -------------------------------------------------------------------------------------------

def test_always_refused_ranges_whatever_the_settings() -> None:
    wide_open = NetPolicy.parse(allow=["0.0.0.0/0", "::/0"])
    for text, expected in (("169.254.169.254", "metadata"), ("100.100.100.200", "metadata"),
                           ("fd00:ec2::254", "metadata"), ("169.254.1.7", "link_local"), ("fe80::1", "link_local"),
                           ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("224.0.0.251", "multicast"),
                           ("ff02::1", "multicast"), ("255.255.255.255", "broadcast")):
        assert rule(NetPolicy(), text) == expected, text
        assert rule(wide_open, text) == expected, text  # allow never re-opens them
        assert rule(NetPolicy(block_private=True, allow=wide_open.allow), text) == expected, text


def test_embedded_and_legacy_ipv4_spellings_cannot_bypass() -> None:
    for text in ("::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1",
                 "::169.254.169.254", "2852039166", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "[fe80::1%eth0]",
                 "169.254.169.254."):
        assert rule(NetPolicy(), text) in ("metadata", "link_local"), text
    assert rule(PRIVATE, "::ffff:127.0.0.1") == "private"
    assert rule(PRIVATE, "127.1") == "private"
    assert rule(NetPolicy(), "::ffff:127.0.0.1") is None


def test_private_deny_and_allow() -> None:
    for text in ("127.0.0.1", "::1", "10.1.2.3", "172.31.0.1", "192.168.1.1", "100.64.0.1", "fd12:3456::1"):
        assert rule(NetPolicy(), text) is None, text
        assert rule(PRIVATE, text) == "private", text
    for text in ("8.8.8.8", "172.32.0.1", "2400:3200::1"):
        assert rule(PRIVATE, text) is None, text
    policy = NetPolicy.parse(block_private=True, allow=["10.20.0.0/16"], deny=["10.20.9.0/24", "203.0.113.0/24"])
    assert rule(policy, "10.20.1.1") is None
    assert rule(policy, "10.21.1.1") == "private"
    assert rule(policy, "10.20.9.9") == "deny"  # deny wins over allow
    assert rule(policy, "203.0.113.5") == "deny"  # deny applies without block_private too
    with pytest.raises(ValueError, match=r"network\.allow"):
        NetPolicy.parse(allow=["10.0.0.0/33"])


def test_settings_make_the_policy() -> None:
    settings = load_settings(env={"LANTERN_NETWORK_BLOCK_PRIVATE": "true", "LANTERN_NETWORK_ALLOW": "10.0.0.0/8",
                                  "LANTERN_NETWORK_DENY": "10.9.0.0/16"})
    policy = network_policy(settings)
    assert policy.block_private and policy.allow == (ipaddress.ip_network("10.0.0.0/8"),)
    assert policy.deny == (ipaddress.ip_network("10.9.0.0/16"),)
    assert network_policy(load_settings(env={})) == NetPolicy()
    with pytest.raises(ConfigError):
        network_policy(load_settings(env={}).with_overrides(network__deny=["not-a-network"]))


def test_messages_name_host_and_rule_in_both_languages() -> None:
    reason = NetPolicy().url_refusal("http://169.254.169.254/latest/meta-data/?token=SECRETVALUE")
    assert reason is not None
    assert "169.254.169.254" in reason and "元数据" in reason and "metadata" in reason
    assert "SECRETVALUE" not in reason and "meta-data" not in reason
    assert NetPolicy().url_refusal("https://rsshub.example.com/weibo") is None  # names: judged at connect time
    assert NetPolicy().url_refusal("http://127.0.0.1:8080/feed") is None
    assert "block_private" in (PRIVATE.url_refusal("http://127.0.0.1:8080/feed") or "")


# -- fetches against real servers -------------------------------------------------------------------------

class Accepts:
    """A raw TCP server counting accepted connections (to prove none was attempted)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.count = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Accepts:
        self._server = await asyncio.start_server(self._on, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def fetch(fetcher: HttpFetcher, url: str) -> Any:
    try:
        return await fetcher.get(FetchRequest(url, timeout_s=5))
    finally:
        await fetcher.close()


async def test_default_settings_still_fetch_from_loopback() -> None:
    async with FeedServer() as srv:
        srv.routes["/feed"] = Route(body=RSS)
        assert (await fetch(HttpFetcher(), srv.url("/feed"))).status == 200
        port = srv.server.port
        assert (await fetch(HttpFetcher(), f"http://localhost:{port}/feed")).status == 200
        assert srv.routes["/feed"].hits == 2


async def test_block_private_refuses_loopback_literal_name_and_mapped() -> None:
    async with Accepts() as tcp:
        for url in (f"http://127.0.0.1:{tcp.port}/feed?key=SECRETKEY", f"http://localhost:{tcp.port}/feed",
                    f"http://[::ffff:127.0.0.1]:{tcp.port}/feed"):
            with pytest.raises(FetchError) as refused:
                await fetch(HttpFetcher(policy=PRIVATE), url)
            text = str(refused.value)
            assert "block_private" in text and "出站地址被拒绝" in text and "refused" in text, text
            assert "SECRETKEY" not in text and "/feed" not in text
        assert tcp.count == 0  # refused before any connection


async def test_allow_readmits_loopback() -> None:
    policy = NetPolicy.parse(block_private=True, allow=["127.0.0.0/8"])
    async with FeedServer() as srv:
        srv.routes["/feed"] = Route(body=RSS)
        assert (await fetch(HttpFetcher(policy=policy), srv.url("/feed"))).status == 200
        # localhost may also resolve to ::1, which stays refused: only 127.0.0.1 is used
        assert (await fetch(HttpFetcher(policy=policy), f"http://localhost:{srv.server.port}/feed")).status == 200
        assert srv.routes["/feed"].hits == 2


async def test_metadata_literals_refused_without_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiohttp.connector as connector_module

    attempts: list[Any] = []

    async def no_connection(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("connection attempted")

    monkeypatch.setattr(connector_module.aiohappyeyeballs, "start_connection", no_connection)
    for url in ("http://169.254.169.254/latest/meta-data/iam?token=SECRETKEY",
                "http://[::ffff:169.254.169.254]/latest/meta-data/", "http://[fd00:ec2::254]/latest/",
                "http://100.100.100.200/latest/meta-data/", "http://2852039166/", "http://169.254.169.254./"):
        with pytest.raises(FetchError) as refused:
            await fetch(HttpFetcher(), url)
        text = str(refused.value)
        assert "元数据" in text and "cloud metadata" in text and "always refused" in text, text
        assert "SECRETKEY" not in text and "meta-data" not in text
    assert attempts == []


async def test_redirect_to_a_refused_address_is_refused() -> None:
    policy = NetPolicy.parse(block_private=True, allow=["127.0.0.1/32"])
    async with FeedServer() as origin, Accepts("127.0.0.2") as inner:
        origin.routes["/to-inner"] = Route(status=302, headers={"Location": f"http://127.0.0.2:{inner.port}/x"})
        origin.routes["/to-metadata"] = Route(status=301, headers={"Location": "http://169.254.169.254/latest/"})
        origin.routes["/to-mapped"] = Route(status=307, headers={"Location": "http://[::ffff:a9fe:a9fe]/"})
        with pytest.raises(FetchError, match="block_private"):
            await fetch(HttpFetcher(policy=policy), origin.url("/to-inner"))
        for path in ("/to-metadata", "/to-mapped"):
            with pytest.raises(FetchError, match="metadata"):
                await fetch(HttpFetcher(policy=policy), origin.url(path))
        assert origin.routes["/to-inner"].hits == 1 and inner.count == 0
        # The same redirect is followed when the target is allowed: the refusal above is the guard's doing.
        assert (await fetch(HttpFetcher(), origin.url("/to-inner"))).status == 200
        assert inner.count == 1


async def test_dns_answers_are_checked_at_connect_time() -> None:
    """A resolver that answers like a rebinding attacker: the refused address is never connected to."""

    class Rebinding(aiohttp.abc.AbstractResolver):
        def __init__(self, answers: list[str]) -> None:
            self.answers = answers

        async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> Any:
            return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else
                     socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST} for a in self.answers]

        async def close(self) -> None:
            pass

    async with FeedServer() as srv:
        srv.routes["/feed"] = Route(body=RSS)
        url = f"http://feeds.example.test:{srv.server.port}/feed"
        for answers, ok in ((["169.254.169.254"], False), (["::ffff:169.254.169.254"], False),
                            (["169.254.169.254", "127.0.0.1"], True), (["127.0.0.1"], True)):
            connector = GuardedConnector(NetPolicy(), resolver=Rebinding(answers))
            async with aiohttp.ClientSession(connector=connector) as session:
                if ok:
                    async with session.get(url) as resp:
                        assert resp.status == 200
                else:
                    with pytest.raises(BlockedAddressError) as refused:
                        await session.get(url)
                    assert refused.value.host == "feeds.example.test" and refused.value.rule == "metadata"
        assert srv.routes["/feed"].hits == 2


async def test_refused_source_is_a_health_error_not_a_crash(tmp_path: Path) -> None:
    db = open_db(tmp_path / "m.db")
    clock = Clock()
    async with FeedServer() as srv:
        srv.routes["/feed"] = Route(body=fixture_bytes("rsshub_weibo_keyword.xml"))
        service = MonitorService(db, FakeClassifier(), clock, sources=[
            {"name": "intranet", "kind": "rss", "url": srv.url("/feed") + "?key=SECRETKEY"},
            {"name": "metadata", "kind": "rss", "url": "http://169.254.169.254/latest/meta-data/"},
        ], fetcher=HttpFetcher(policy=PRIVATE))
        try:
            results = {r.source: r for r in await service.poll_once()}
            assert not results["intranet"].ok and "block_private" in (results["intranet"].error or "")
            assert "SECRETKEY" not in (results["intranet"].error or "")
            assert not results["metadata"].ok and "元数据" in (results["metadata"].error or "")
            health = {s["name"]: s["health"] for s in await service.list_sources()}
            assert health["intranet"]["status"] == "error"
            assert "出站地址被拒绝" in health["intranet"]["last_error"]
            assert srv.routes["/feed"].hits == 0
        finally:
            await service.stop()
            db.close()


# -- channels ----------------------------------------------------------------------------------------------

class Receiver:
    def __init__(self) -> None:
        self.hits = 0
        self.peers: list[Any] = []  # each post's client (address, port): one per connection used
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.server = TestServer(app, host="127.0.0.1")

    async def _hook(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({"ok": True})

    async def __aenter__(self) -> Receiver:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


MESSAGE = Message(title="t", text="x", tier="P1", kind="opened")


async def test_the_alert_engine_posts_through_its_own_guarded_session(tmp_path: Path) -> None:
    async with Receiver() as rx:
        url = str(rx.server.make_url("/hook"))
        settings = settings_for(tmp_path, channels=[{"name": "hook", "kind": "webhook", "url": url}])
        services = await make_services(settings, AlertClock())
        try:
            engine = services.alerts
            http = engine._session()
            assert isinstance(http.connector, GuardedConnector)
            assert http.connector.policy == network_policy(settings)
            for _ in range(3):
                await engine.channels["hook"].send(MESSAGE, http)
        finally:
            await services.stop()
        assert rx.hits == 3 and len(set(rx.peers)) == 1  # one kept-alive connection, not a session per alert


async def test_channel_post_to_a_refused_address_is_a_permanent_failure() -> None:
    async with Receiver() as rx:
        url = str(rx.server.make_url("/hook")) + "?sig=SECRETSIG"
        table = [{"name": "hook", "kind": "webhook", "url": url}]
        blocked = build_channels(table, network=PRIVATE)["hook"]
        allowed = build_channels(table)["hook"]
        async with aiohttp.ClientSession() as plain, open_session(PRIVATE) as guarded:
            for http in (plain, guarded):  # the engine's plain session is never trusted to skip the check
                with pytest.raises(DeliveryError) as refused:
                    await blocked.send(MESSAGE, http)
                assert not refused.value.retryable
                text = str(refused.value)
                assert text.startswith("hook: ") and "block_private" in text and "SECRETSIG" not in text
            assert rx.hits == 0
            await allowed.send(MESSAGE, plain)
            await allowed.send(MESSAGE, guarded)  # a guarded session with another policy: checked anew
        metadata = build_channels([{"name": "m", "kind": "webhook", "url": "http://169.254.169.254/hook"}])["m"]
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(DeliveryError, match="metadata") as refused:
                await metadata.send(MESSAGE, plain)
            assert not refused.value.retryable
        assert rx.hits == 2


async def test_refused_alert_delivery_fails_at_once_with_its_reason_in_the_log(tmp_path: Path) -> None:
    from monitor.alerting.outbox import list_deliveries
    from tests.fixtures.alerts.helpers import T0, Robot, make_services, settings_for, store_mention

    robot = await Robot().start()
    svc = await make_services(settings_for(tmp_path, channels=[{"name": "hook", "kind": "webhook",
                                                                "url": robot.url("/hook")}],
                                           routes=[{"channels": ["hook"]}], incidents__group_wait_s=0,
                                           network__block_private=True), Clock(T0))
    try:
        mention = await store_mention(svc, title="央视曝光鲜味楼后厨老鼠乱窜", tier="P2", categories=("food_safety",))
        incident = (await svc.incidents.on_mentions([mention]))[0].incident_id
        await svc.alerts.tick(T0 + 1)
        await svc.alerts.tick(T0 + 3600)
        (row,) = await svc.db.read(lambda db: list_deliveries(db, incident_id=incident))
        assert row["status"] == "failed" and row["attempts"] == 1
        assert "出站地址被拒绝" in row["last_error"] and "block_private" in row["last_error"]
        assert robot.requests == []
    finally:
        await svc.alerts.stop()
        svc.db.close()
        await robot.close()


# -- the sources API ------------------------------------------------------------------------------------------

@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False,
                                                    network__block_private=True, network__allow=["10.20.0.0/16"])
    db = open_db(tmp_path / "l.db")
    services = await build_services(settings, clock=Clock(), db=db,
        parts={Part.MONITOR}, classifier=FakeClassifier())
    client = await monitor_client(aiohttp_client, services)

    def txn(d: Any) -> str:
        return users.create_token(d, users.add_user(d, "boss", "manager", "pw-boss-long-secret", now=1.0), "t", now=1.0)

    yield client, {"Authorization": f"Bearer {await db.write(txn)}"}
    db.close()


async def test_api_refuses_a_literal_blocked_source_url_with_422(api: Any) -> None:
    client, headers = api
    for url, words in (("http://169.254.169.254/latest/meta-data/?key=SECRETKEY", ("元数据", "metadata")),
                       ("http://[::ffff:169.254.169.254]/", ("元数据", "metadata")),
                       ("http://127.0.0.1:1200/weibo", ("block_private",))):
        resp = await client.post("/api/sources", json={"name": "bad", "kind": "rss", "url": url}, headers=headers)
        assert resp.status == 422
        body = await resp.json()
        assert body["error"] == "blocked_address" and all(w in body["message"] for w in words)
        assert "SECRETKEY" not in body["message"]
    listed = await (await client.get("/api/sources", headers=headers)).json()
    assert [s["name"] for s in listed["items"]] == []  # nothing was stored
    ok = await client.post("/api/sources", json={"name": "rsshub", "kind": "rss", "url": "http://10.20.3.4/weibo"},
                           headers=headers)
    assert ok.status == 201
    patched = await client.patch("/api/sources/rsshub", json={"url": "http://169.254.169.254/"}, headers=headers)
    assert patched.status == 422
    listed = await (await client.get("/api/sources", headers=headers)).json()
    assert listed["items"][0]["url"] == "http://10.20.3.4/weibo"
