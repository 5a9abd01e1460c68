"""The monitor's HTTP API: /api/sources, /api/mentions, /api/ingest (roles, secrets, bad input)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from monitor.mentions import StoredMention
from tests.support_monitor import Clock, FakeClassifier, FeedServer, Route, fixture_bytes, monitor_client, open_db
from web.auth import users
from web.compose import Part, build_services
from web.platform.settings import Settings, load_settings

PUSH_TOKEN = "push-token-0123456789abcdef"
received: list[StoredMention] = []


async def listener(batch: list[StoredMention]) -> None:
    """A mention sink like the incident engine's."""
    received.extend(batch)


@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Any) -> Any:
    received.clear()
    clock = Clock()
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    settings = Settings(settings.as_dict(), {**settings.lists, "sources": [
        {"name": "hook", "kind": "push", "token": PUSH_TOKEN, "query": "鲜味楼"},
        {"name": "cfg-rss", "kind": "rss", "url": "http://127.0.0.1:9/feed", "cookies": "SUB=COOKIESECRET"},
    ]}, None)
    db = open_db(tmp_path / "l.db")
    services = await build_services(settings, clock=clock, db=db,
        parts={Part.MONITOR}, classifier=FakeClassifier())
    services.mention_sinks.append(listener)
    client = await monitor_client(aiohttp_client, services)
    tokens = {}
    for name, role in (("boss", "manager"), ("night", "oncall"), ("amy", "agent"), ("root", "admin")):
        def txn(d: Any, name: str = name, role: str = role) -> str:
            user = users.add_user(d, name, role, f"pw-{name}-long-secret", now=clock())
            return users.create_token(d, user, "test", now=clock())

        tokens[role] = {"Authorization": f"Bearer {await db.write(txn)}"}
    yield client, tokens, services
    db.close()


async def test_roles_on_source_endpoints(api: Any) -> None:
    client, tokens, _ = api
    assert (await client.get("/api/sources")).status == 401
    assert (await client.get("/api/sources", headers=tokens["agent"])).status == 403
    assert (await client.get("/api/sources", headers=tokens["oncall"])).status == 200
    assert (await client.post("/api/sources", json={}, headers=tokens["oncall"])).status == 403
    assert (await client.delete("/api/sources/cfg-rss", headers=tokens["agent"])).status == 403
    assert (await client.get("/api/mentions", headers=tokens["agent"])).status == 403


async def test_source_lifecycle_over_the_api_hides_secrets(api: Any, caplog: pytest.LogCaptureFixture) -> None:
    client, tokens, _ = api
    caplog.set_level(logging.DEBUG)
    async with FeedServer() as srv:
        srv.routes["/sina/tousu/7000123456"] = Route(body=fixture_bytes("rsshub_sina_tousu.xml"))
        body = {"name": "tousu", "kind": "rss", "url": srv.url("/sina/tousu/7000123456") + "?key=URLSECRET",
                "headers": {"Authorization": "Basic HEADERSECRET"}, "interval_s": 600, "query": "鲜味楼"}
        resp = await client.post("/api/sources", json=body, headers=tokens["manager"])
        assert resp.status == 201, await resp.text()
        shown = (await resp.json())["source"]
        assert shown["headers"] == {"Authorization": "***"} and "URLSECRET" not in shown["url"]
        assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 409
        resp = await client.patch("/api/sources/tousu", json={**shown, "interval_s": 1200},  # as shown, edited
                                  headers=tokens["manager"])
        assert resp.status == 200 and (await resp.json())["source"]["interval_s"] == 1200
        resp = await client.post("/api/sources/tousu/poll", headers=tokens["manager"])
        result = await resp.json()
        assert result["result"]["ok"] and result["result"]["new"] == 2, result
        assert srv.routes["/sina/tousu/7000123456"].seen_headers[0]["Authorization"] == "Basic HEADERSECRET"
    assert (await client.post("/api/sources/tousu/pause", headers=tokens["admin"])).status == 200
    listed = await (await client.get("/api/sources", headers=tokens["oncall"])).json()
    by_name = {s["name"]: s for s in listed["items"]}
    assert by_name["tousu"]["paused"] and by_name["tousu"]["health"]["mentions_new"] == 2
    resp = await client.patch("/api/sources/tousu", json={**by_name["tousu"], "query": "鲜味楼 OR 投诉"},
                              headers=tokens["manager"])  # a listed entry sent back edited
    assert resp.status == 200, await resp.text()
    assert by_name["hook"]["token"] == "***" and by_name["cfg-rss"]["cookies"] == "***"
    assert (await client.post("/api/sources/tousu/resume", headers=tokens["manager"])).status == 200
    assert (await client.delete("/api/sources/tousu", headers=tokens["manager"])).status == 204
    assert (await client.delete("/api/sources/tousu", headers=tokens["manager"])).status == 404
    resp = await client.post("/api/sources", json={"name": "x", "kind": "rss", "url": "http://a", "query": "(a"},
                             headers=tokens["manager"])
    assert resp.status == 400 and "查询语法错误" in (await resp.json())["message"]
    resp = await client.post("/api/sources", data=b"{not json", headers=tokens["manager"])
    assert resp.status == 400
    # aiohttp.access lines of the fake feed server show its own request line; everything else must be clean
    everything = str(listed) + "\n".join(r.getMessage() for r in caplog.records
                                          if "Lantern/0.1" not in r.getMessage())
    for secret in ("URLSECRET", "HEADERSECRET", "COOKIESECRET", PUSH_TOKEN):
        assert secret not in everything


async def test_ingest_keeps_good_items_and_reports_bad_ones(api: Any) -> None:
    client, tokens, _ = api
    items = [
        {"id": "a1", "url": "https://weibo.com/1/a1", "text": "鲜味楼外卖吃出老鼠屎，太恶心了", "author": "路人甲",
         "author_reach": 1200, "published_at": "2026-11-23T17:00:00+08:00"},
        {"id": "a2", "text": ""},
        "not an object",
        {"id": "a3", "text": "鲜味楼的酸菜鱼真好吃", "published_at": "yesterday-ish"},
        {"id": "a4", "text": "今天天气不错"},  # not about the brand: filtered, not an error
        {"id": "a5", "text": "鲜味楼 招聘", "url": "javascript:alert(1)"},
    ]
    resp = await client.post("/api/ingest", json={"items": items}, headers={"X-Lantern-Source-Token": PUSH_TOKEN})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["accepted"] == 1 and body["filtered"] == 1
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 5]
    assert "text" in body["errors"][0]["error"] and "published_at" in body["errors"][2]["error"]
    again = await client.post("/api/ingest", json=items[:1], headers={"Authorization": f"Bearer {PUSH_TOKEN}"})
    assert (await again.json())["duplicates"] == 1
    assert [m.mention.external_id for m in received] == ["a1"] and received[0].tier == "P2"
    page = await (await client.get("/api/mentions?source=hook", headers=tokens["manager"])).json()
    assert [m["external_id"] for m in page["items"]] == ["a1"] and page["items"][0]["author_reach"] == 1200


async def test_ingest_rejects_bad_tokens_and_bad_batches(api: Any) -> None:
    client, _, _ = api
    assert (await client.post("/api/ingest", json=[])).status == 401
    assert (await client.post("/api/ingest", json=[], headers={"X-Lantern-Source-Token": "wrong"})).status == 401
    header = {"X-Lantern-Source-Token": PUSH_TOKEN}
    assert (await client.post("/api/ingest", data=b"{oops", headers=header)).status == 400
    assert (await client.post("/api/ingest", json={"items": "x"}, headers=header)).status == 400
    too_many = [{"text": f"鲜味楼 {i}"} for i in range(501)]
    assert (await client.post("/api/ingest", json=too_many, headers=header)).status == 413
    all_bad = await client.post("/api/ingest", json=[{"text": ""}, 3], headers=header)
    assert all_bad.status == 422


async def test_mentions_pagination_and_filters(api: Any) -> None:
    client, tokens, _ = api
    header = {"X-Lantern-Source-Token": PUSH_TOKEN}
    items = [{"id": f"n{i}", "text": f"鲜味楼 第 {i} 条 {'老鼠' if i % 2 else '好吃'} 独特内容编号{i * 7919}"}
             for i in range(7)]
    assert (await (await client.post("/api/ingest", json=items, headers=header)).json())["accepted"] == 7
    first = await (await client.get("/api/mentions?limit=4", headers=tokens["oncall"])).json()
    assert len(first["items"]) == 4 and first["next_before"] is not None
    rest = await (await client.get(f"/api/mentions?limit=4&before={first['next_before']}",
                                   headers=tokens["oncall"])).json()
    assert len(rest["items"]) == 3 and rest["next_before"] is None
    p2 = await (await client.get("/api/mentions?tier=P2", headers=tokens["manager"])).json()
    assert len(p2["items"]) == 3 and all(m["tier"] == "P2" for m in p2["items"])
    assert (await client.get("/api/mentions?limit=abc", headers=tokens["manager"])).status == 400


async def test_a_bad_source_table_is_a_clear_config_error(tmp_path: Path) -> None:
    from web.errors import ConfigError

    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    settings = Settings(settings.as_dict(), {**settings.lists, "sources": [
        {"name": "wb", "kind": "rss", "url": "https://rsshub.example.cn/weibo/keyword/x", "query": "(鲜味楼"}]}, None)
    db = open_db(tmp_path / "l.db")
    try:
        with pytest.raises(ConfigError, match=r"\[\[sources\]\]: wb: 查询语法错误"):
            await build_services(settings, db=db, parts={Part.MONITOR}, classifier=FakeClassifier())
    finally:
        db.close()
