"""Issue #11 point 1: one bad item never costs its batch, on the push API and on every polled source kind."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.items import MAX_REACH
from tests.support_monitor import FeedServer, Route, fixture_bytes
from tests.web.api.test_monitor import PUSH_TOKEN, api  # noqa: F401 - the fixture

PUSH = {"X-Lantern-Source-Token": PUSH_TOKEN, "Content-Type": "application/json"}


def good(i: int) -> str:
    return f'{{"id": "g{i}", "text": "鲜味楼 第{i}条 独立内容 {i * 7919}"}}'


async def push_raw(client: Any, text: str) -> Any:
    """POST a body written by hand: JSON the json module would refuse to write (Infinity, lone surrogates)."""
    return await client.post("/api/ingest", data=text.encode("utf-8"), headers=PUSH)


async def source_health(client: Any, tokens: dict[str, Any], name: str) -> dict[str, Any]:
    listed = await (await client.get("/api/sources", headers=tokens["manager"])).json()
    return next(s for s in listed["items"] if s["name"] == name)["health"]


async def test_bad_numbers_and_lone_surrogates_refuse_only_their_item(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api
    digits = "9" * 5000  # Python refuses to read an integer this long: must not cost the batch
    body = ("[" + ",".join([
        good(0),
        '{"id": "huge", "text": "鲜味楼 粉丝很多", "author_reach": 1e30}',
        good(1),
        '{"id": "inf", "text": "鲜味楼 无穷", "author_reach": Infinity}',
        '{"id": "nan", "text": "鲜味楼 非数", "author_reach": NaN}',
        '{"id": "neg", "text": "鲜味楼 负数", "author_reach": -5}',
        f'{{"id": "digits", "text": "鲜味楼 长数字", "author_reach": {digits}}}',
        '{"id": "sur", "text": "鲜味楼 \\ud800 半个代理对", "author": "\\udfff路人"}',
        '{"id": "deep", "text": "鲜味楼 深", "extra": ' + "[" * 200 + "]" * 200 + "}",
        '{"id": "ok-big", "text": "鲜味楼 大号", "author_reach": "3.5万"}',
        f'{{"id": "max", "text": "鲜味楼 最多", "author_reach": {MAX_REACH}}}',
    ]) + "]")
    resp = await push_raw(client, body)
    answer = await resp.json()
    assert resp.status == 200, answer
    rejected = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 5, 6, 8], answer
    assert "超出范围" in rejected[1] and "out of range" in rejected[5]
    assert "有限" in rejected[3] and "finite" in rejected[4] and "finite" in rejected[6]
    assert "嵌套过深" in rejected[8]
    assert answer["accepted"] == 5
    assert answer["errors"] == [{"index": i, "error": r} for i, r in sorted(rejected.items())]  # deprecated alias
    page = await (await client.get("/api/mentions?source=hook", headers=tokens["manager"])).json()
    by_id = {m["external_id"]: m for m in page["items"]}
    assert set(by_id) == {"g0", "g1", "sur", "ok-big", "max"}
    assert by_id["sur"]["text"] == "鲜味楼 \ufffd 半个代理对" and by_id["sur"]["author"] == "\ufffd路人"
    assert by_id["ok-big"]["author_reach"] == 35000 and by_id["max"]["author_reach"] == MAX_REACH
    health = await source_health(client, tokens, "hook")
    assert health["status"] == "warning" and health["rejected_count"] == 6
    assert "拒收 6 条" in health["warning"]
    assert [r["item"] for r in health["rejected"]] == [1, 3, 4, 5, 6, 8]
    # The next clean push clears the warning; the refusals stay readable with their time.
    resp = await push_raw(client, "[" + good(2) + "]")
    assert (await resp.json())["accepted"] == 1
    health = await source_health(client, tokens, "hook")
    assert health["status"] == "ok" and health["warning"] is None and health["rejected_count"] == 6


async def test_pathologically_deep_json_is_a_clear_400(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api
    resp = await push_raw(client, "[" * 200_000 + "]" * 200_000)
    assert resp.status == 400
    assert (await resp.json())["error"] == "too_deep"
    resp = await push_raw(client, '{"items": [' + "{\"a\": " * 100_000 + "1" + "}" * 100_000 + "]}")
    assert resp.status == 400
    # The same holds for every JSON endpoint of the API
    resp = await client.post("/api/sources", data=b"[" * 200_000, headers={**tokens["manager"],
                                                                          "Content-Type": "application/json"})
    assert resp.status == 400


async def test_far_future_dates_are_clamped_to_the_fetch_time_with_a_note(api: Any) -> None:  # noqa: F811
    client, tokens, services = api
    now = services.clock()
    items = [{"id": "future", "text": "鲜味楼 来自未来", "published_at": "2099-01-01T00:00:00+08:00"},
             {"id": "soon", "text": "鲜味楼 几分钟后", "published_at": now + 60}]  # small clock skew: kept
    answer = await (await client.post("/api/ingest", json=items, headers=PUSH)).json()
    assert answer["accepted"] == 2 and answer["rejected"] == []
    assert any("发布时间晚于抓取时间" in w for w in answer["warnings"])
    rows = {r["external_id"]: r for r in services.db.read_sync(
        lambda db: list(db.query("SELECT external_id, published_at, raw FROM mentions")))}
    assert rows["future"]["published_at"] == now
    assert json.loads(rows["future"]["raw"])["_published_at_given"].startswith("2099-01-01")
    assert rows["soon"]["published_at"] == now + 60
    assert "发布时间" in (await source_health(client, tokens, "hook"))["warning"]


async def test_json_source_page_with_one_bad_item_stores_the_rest_every_poll(api: Any, tmp_path: Path) -> None:  # noqa: F811
    client, tokens, _ = api
    page = ('{"data": {"list": [{"mid": "1", "text_raw": "鲜味楼 好评", "user": {"followers_count": 10}},'
            '{"mid": "2", "text_raw": "鲜味楼 坏数字", "user": {"followers_count": 1e400}},'
            '{"mid": "3", "text_raw": "鲜味楼 又一条", "user": {"followers_count": "1.2万"}},'
            '{"mid": "4", "text_raw": "鲜味楼 未来", "created_at": "Mon Nov 23 17:20:11 +0800 2099"}]}}')
    async with FeedServer() as srv:
        srv.routes["/api"] = Route(body=page.encode(), content_type="application/json; charset=utf-8")
        body = {"name": "api", "kind": "json", "url": srv.url("/api"), "items": "data.list", "query": "鲜味楼",
                "fields": {"id": "mid", "text": "text_raw", "author_reach": "user.followers_count",
                           "published_at": "created_at"}}
        assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
        for attempt in range(2):
            result = (await (await client.post("/api/sources/api/poll", headers=tokens["manager"])).json())["result"]
            assert result["ok"], result
            assert result["new"] == (3 if attempt == 0 else 0) and result["items"] == 4
            assert [r["item"] for r in result["rejected"]] == ["2"]
            assert "有限" in result["rejected"][0]["reason"]
    health = await source_health(client, tokens, "api")
    assert health["status"] == "warning" and health["consecutive_failures"] == 0
    assert health["rejected"] == [{"item": "2", "reason": result["rejected"][0]["reason"]}]
    assert "发布时间晚于抓取时间" in health["warning"]
    page_rows = await (await client.get("/api/mentions?source=api", headers=tokens["manager"])).json()
    assert sorted(m["external_id"] for m in page_rows["items"]) == ["1", "3", "4"]
    future = next(m for m in page_rows["items"] if m["external_id"] == "4")
    assert future["published_at"] == future["fetched_at"]


async def test_rss_and_html_items_with_bad_fields_do_not_cost_the_page(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api
    feed = fixture_bytes("rsshub_weibo_keyword.xml").replace(
        b"</channel>", "<item><title>鲜味楼 未来</title><link>https://weibo.com/9/future</link>"
        "<pubDate>Fri, 01 Jan 2100 00:00:00 +0800</pubDate><description>鲜味楼 \x01控制字符</description>"
        "</item></channel>".encode())
    html = ('<html><head><meta charset="utf-8"></head><body><ul>'
            '<li><a href="http://[bad">鲜味楼 坏链接</a></li>'
            '<li><a href="/ok">鲜味楼 正常</a></li></ul></body></html>').encode()
    async with FeedServer() as srv:
        srv.routes["/rss"] = Route(body=feed)
        srv.routes["/page"] = Route(body=html, content_type="text/html; charset=utf-8")
        for body in ({"name": "wb", "kind": "rss", "url": srv.url("/rss"), "query": "鲜味楼"},
                     {"name": "page", "kind": "html", "url": srv.url("/page"), "item": "li", "title": "a",
                      "query": "鲜味楼"}):
            assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
        rss = (await (await client.post("/api/sources/wb/poll", headers=tokens["manager"])).json())["result"]
        page = (await (await client.post("/api/sources/page/poll", headers=tokens["manager"])).json())["result"]
    assert rss["ok"] and rss["new"] == 5 and "发布时间" in rss["warning"]
    assert page["ok"] and page["new"] == 1 and page["rejected"][0]["reason"].startswith("链接无法解析")
    rows = await (await client.get("/api/mentions?source=wb", headers=tokens["manager"])).json()
    future = next(m for m in rows["items"] if m["external_id"] == "https://weibo.com/9/future")
    assert future["text"] == "鲜味楼 控制字符" and future["published_at"] == future["fetched_at"]
    assert datetime.fromtimestamp(future["published_at"]).year < 2100
