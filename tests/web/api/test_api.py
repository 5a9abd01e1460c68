"""The web layer's own API: /api/me, /api/users, console reads, corrections, OpenAPI and /metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FakeClock
from web.app import create_app
from web.auth import users
from web.compose import build_services
from web.platform import metrics
from web.platform.settings import load_settings

NOW = 1_700_000_000.0

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client, self.tokens = client, tokens

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        headers.update(kwargs.pop("headers", {}))
        response = await self.client.request(method, path, headers=headers, **kwargs)
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, clock=FakeClock(NOW), parts=())

    def seed(db: Any) -> dict[str, str]:
        tokens = {}
        for name, role in (("root", "admin"), ("mgr", "manager"), ("ag", "agent"), ("oc", "oncall")):
            user = users.add_user(db, name, role, f"{name}-password", team="t1", now=NOW)
            tokens[name] = users.create_token(db, user, "t", now=NOW)
        return tokens

    tokens = await services.db.write(seed)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    yield Api(client, tokens)
    await client.close()
    services.db.close()


async def test_me(api: Api) -> None:
    status, body = await api.call("ag", "GET", "/api/me")
    assert status == 200 and body["user"]["name"] == "ag" and body["user"]["role"] == "agent"
    assert "csrf_token" not in body  # bearer clients need none
    assert "password_hash" not in json.dumps(body)


async def test_admin_manages_users(api: Api) -> None:
    status, body = await api.call("root", "POST", "/api/users", json={
        "name": "zhang", "role": "agent", "password": "long-enough", "team": "queue-b", "display_name": "张三"})
    assert status == 201 and body["user"]["team"] == "queue-b"
    status, body = await api.call("root", "GET", "/api/users")
    names = {u["name"]: u for u in body["items"]}
    assert "zhang" in names and "password_hash" not in json.dumps(body)
    status, body = await api.call("root", "POST", "/api/users", json={"name": "zhang", "role": "agent",
                                                                      "password": "long-enough"})
    assert status == 409
    for bad in ({"name": "x y", "role": "agent", "password": "long-enough"},
                {"name": "li", "role": "boss", "password": "long-enough"},
                {"name": "li", "role": "agent", "password": "short"},
                {"name": "li", "role": "agent", "password": "long-enough", "is_admin": True},
                {"name": 5, "role": "agent", "password": "long-enough"}):
        status, body = await api.call("root", "POST", "/api/users", json=bad)
        assert status == 400, bad
        assert "long-enough" not in json.dumps(body)  # the password is never echoed
    status, body = await api.call("root", "POST", "/api/users", data="not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400
    zhang = names["zhang"]["id"]
    status, _ = await api.call("root", "POST", f"/api/users/{zhang}/deactivate")
    assert status == 200
    status, body = await api.call("root", "GET", "/api/users?all=1")
    assert {u["name"]: u["active"] for u in body["items"]}["zhang"] is False
    assert (await api.call("root", "POST", f"/api/users/{zhang}/deactivate"))[0] == 404
    root_id = next(u["id"] for u in body["items"] if u["name"] == "root")
    assert (await api.call("root", "POST", f"/api/users/{root_id}/deactivate"))[0] == 400


async def test_only_admins_manage_users(api: Api) -> None:
    for who in ("mgr", "ag", "oc"):
        assert (await api.call(who, "GET", "/api/users"))[0] == 403
        assert (await api.call(who, "POST", "/api/users", json={}))[0] == 403


async def insert_mentions(api: Api) -> None:
    def txn(db: Any) -> None:
        rows = [
            {"id": 1, "source": "weibo", "external_id": "a", "title": "门店老鼠", "text": "门店老鼠 太恶心",
             "published_at": NOW - 3600 * 2 + 10, "fetched_at": NOW, "sentiment": "negative",
             "negative_probability": 0.93, "categories": '["food_safety"]', "tier": "P2",
             "reasons": '["负面词: 恶心", "类别: 食品安全"]', "incident_id": 7},
            {"id": 2, "source": "news", "external_id": "b", "title": "", "text": "又见老鼠",
             "published_at": NOW - 10, "fetched_at": NOW, "sentiment": "negative", "negative_probability": 0.8,
             "categories": "[]", "tier": "P3", "reasons": None, "incident_id": 7},
            {"id": 3, "source": "news", "external_id": "c", "title": "", "text": "很久以前",
             "published_at": NOW - 86400 * 3, "fetched_at": NOW, "incident_id": 7},
        ]
        db["mentions"].insert_all(rows)

    await api.client.server.app["services"].db.write(txn)


async def test_sparklines_and_incident_mentions(api: Api) -> None:
    await insert_mentions(api)
    status, body = await api.call("mgr", "GET", "/api/console/sparklines?ids=7,8")
    assert status == 200 and body["hours"] == 24
    assert len(body["series"]["7"]) == 24 and sum(body["series"]["7"]) == 2  # the 3-day-old one is out
    assert body["series"]["7"][-1] == 1 and body["series"]["7"][-3] == 1
    assert body["series"]["8"] == [0] * 24
    assert (await api.call("mgr", "GET", "/api/console/sparklines?ids=1,x"))[0] == 400
    status, body = await api.call("oc", "GET", "/api/console/incidents/7/mentions")
    assert status == 200
    first = body["items"][0]
    assert first["id"] == 2 and first["reasons"] == []
    assert body["items"][1]["reasons"] == ["负面词: 恶心", "类别: 食品安全"]
    assert body["items"][1]["categories"] == ["food_safety"]
    assert (await api.call("ag", "GET", "/api/console/incidents/7/mentions"))[0] == 403


async def test_corrections(api: Api) -> None:
    from monitor.schema import corrections_migrations

    await insert_mentions(api)
    services = api.client.server.app["services"]
    services.db.migrate([corrections_migrations])  # a no-op: monitor's migration sets include it
    status, _ = await api.call("mgr", "POST", "/api/console/corrections",
                               json={"mention_id": 1, "field": "sentiment", "value": "neutral"})
    assert status == 201
    rows = await services.db.read(lambda db: list(db.query(
        "select text, field, value, user, mention_id from corrections")))
    row = rows[0]
    assert row == {"text": "门店老鼠 太恶心", "field": "sentiment", "value": "neutral", "user": "mgr",
                   "mention_id": 1}
    assert (await api.call("mgr", "POST", "/api/console/corrections",
                           json={"mention_id": 1, "field": "sentiment", "value": "furious"}))[0] == 400
    assert (await api.call("mgr", "POST", "/api/console/corrections",
                           json={"mention_id": 99, "field": "sentiment", "value": "neutral"}))[0] == 404
    assert (await api.call("mgr", "POST", "/api/console/corrections", json={"mention_id": "1"}))[0] == 400
    assert (await api.call("ag", "POST", "/api/console/corrections", json={}))[0] == 403


async def test_openapi_lists_routes_with_roles(api: Api) -> None:
    status, doc = await api.call("ag", "GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert paths["/api/users"]["get"]["x-lantern-roles"] == ["admin"]
    assert "requestBody" in paths["/api/users"]["post"]
    deactivate = paths["/api/users/{id}/deactivate"]["post"]
    assert deactivate["parameters"][0]["name"] == "id"
    assert paths["/healthz"]["get"]["security"] == []
    assert "/metrics" in paths and "/login" not in paths
    assert all(op["summary"] for ops in paths.values() for op in ops.values())
    assert (await api.call("", "GET", "/api/openapi.json"))[0] == 401


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse an exposition: (sample name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


async def test_metrics_exposition(api: Api) -> None:
    services = api.client.server.app["services"]
    m = metrics.for_services(services)
    m.mentions_ingested.labels(source="weibo").inc(3)
    m.alerts_sent.labels(channel="dingtalk").inc()
    m.alerts_failed.labels(channel="wecom").inc()
    m.classification_seconds.observe(0.004)
    m.classification_seconds.observe(0.2)
    m.broadcast_seconds.observe(0.002)
    assert (await api.call("ag", "GET", "/api/me"))[0] == 200
    status, text = await api.call("oc", "GET", "/metrics")
    assert status == 200
    got = samples(text)
    assert got["lantern_mentions_ingested_total", (("source", "weibo"),)] == 3
    assert got["lantern_alerts_sent_total", (("channel", "dingtalk"),)] == 1
    assert got["lantern_alerts_failed_total", (("channel", "wecom"),)] == 1
    assert got["lantern_classification_seconds_bucket", (("le", "0.005"),)] == 1
    assert got["lantern_classification_seconds_bucket", (("le", "+Inf"),)] == 2
    assert got["lantern_classification_seconds_count", ()] == 2
    assert got["lantern_websocket_connections", ()] == 0
    assert types(text)["lantern_broadcast_latency_seconds"] == "histogram"
    assert got["lantern_http_requests_total", (("method", "GET"), ("status", "2xx"))] >= 1
    assert not any(name.endswith("_created") for name, _labels in got)  # the series Lantern always exported
    await insert_mentions(api)
    _, text = await api.call("oc", "GET", "/metrics")
    got = samples(text)
    assert got["lantern_mentions_stored", (("source", "news"),)] == 2
    assert got["lantern_mentions_stored", (("source", "weibo"),)] == 1
    assert types(text)["lantern_mentions_stored"] == "gauge"
    assert (await api.call("ag", "GET", "/metrics"))[0] == 403
    assert (await api.call("", "GET", "/metrics"))[0] == 401


def test_each_app_counts_in_its_own_registry() -> None:
    class Services:
        def __init__(self) -> None:
            self.metrics: metrics.LanternMetrics | None = None

    one, two = Services(), Services()
    metrics.for_services(one).alerts_sent.labels(channel="sms").inc(2)
    assert metrics.for_services(one) is metrics.for_services(one)
    first, second = samples(metrics.for_services(one).render().decode()), \
        samples(metrics.for_services(two).render().decode())
    assert first["lantern_alerts_sent_total", (("channel", "sms"),)] == 2
    assert ("lantern_alerts_sent_total", (("channel", "sms"),)) not in second
    assert not any(name.startswith("lantern_") for name, _labels in samples(generate_latest(REGISTRY).decode()))


def test_hub_connections() -> None:
    class Hub:
        def __init__(self) -> None:
            self.connections = {1, 2, 3}

    assert metrics.hub_connections(Hub()) == 3.0
    assert metrics.hub_connections(None) is None


async def test_password_changes(api: Api) -> None:
    wrong = await api.call("mgr", "POST", "/api/me/password", json={"current": "nope-nope", "new": "brand-new-pw"})
    assert wrong[0] == 403
    assert (await api.call("mgr", "POST", "/api/me/password",
                           json={"current": "mgr-password", "new": "short"}))[0] == 400
    status, _ = await api.call("mgr", "POST", "/api/me/password",
                               json={"current": "mgr-password", "new": "brand-new-pw"})
    assert status == 200
    db = api.client.server.app["services"].db
    assert await db.read(lambda d: users.verify_password(d, "mgr", "brand-new-pw")) is not None
    assert await db.read(lambda d: users.verify_password(d, "mgr", "mgr-password")) is None
    _, listing = await api.call("root", "GET", "/api/users")
    agent_id = next(u["id"] for u in listing["items"] if u["name"] == "ag")
    assert (await api.call("mgr", "POST", f"/api/users/{agent_id}/password", json={"password": "x" * 12}))[0] == 403
    assert (await api.call("root", "POST", f"/api/users/{agent_id}/password", json={"password": "reset-pw-123"}))[0] \
        == 200
    assert await db.read(lambda d: users.verify_password(d, "ag", "reset-pw-123")) is not None
    assert (await api.call("root", "POST", "/api/users/999/password", json={"password": "reset-pw-123"}))[0] == 404
