"""Authority comes from the author, the source and the channel title (issue 12, point 5).

An RSS ``<author>`` of 央视新闻 used to count for nothing (the tier saw only the
configured source's name): 51 points, P3, while the same text classified with
``--source-name 央视新闻`` scored P1.  Here real feeds are served on 127.0.0.1
and polled into the real pipeline, shipped classifier and incident engine.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from classifiers import Signals, TierPolicy
from tests.conftest import with_lists
from web.app import create_app

TEXT = "央视曝光：麦香园多家门店使用过期肉，员工把过期三天的鸡肉重新贴标继续售卖，太恶心了"
ITEM_TIME = "Mon, 16 Mar 2026 10:00:00 +0800"


def rss(author_xml: str, channel_title: str, guid: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{channel_title}</title>'
            f"<link>https://example.cn/</link><description>feed</description>"
            f"<item><title>{TEXT[:20]}</title><description><![CDATA[{TEXT}]]></description>"
            f"<guid isPermaLink=\"false\">{guid}</guid><link>https://example.cn/{guid}</link>"
            f"<pubDate>{ITEM_TIME}</pubDate>{author_xml}</item></channel></rss>")


def atom(feed_title: str, author: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{feed_title}</title><id>tag:example.cn,2026:f</id><updated>2026-03-16T10:00:00+08:00</updated>"
            f"<entry><title>{TEXT[:20]}</title><id>tag:example.cn,2026:atom-1</id>"
            f'<link href="https://example.cn/atom-1"/><published>2026-03-16T10:00:00+08:00</published>'
            f"<author><name>{author}</name></author><content type=\"html\">{TEXT}</content></entry></feed>")


FEEDS = {
    "/rss-author": rss("<author>央视新闻</author>", "麦香园 - 关键词订阅", "rss-author"),
    "/rss-mailbox": rss("<author>news@cctv.com (央视新闻)</author>", "关键词订阅", "rss-mailbox"),
    "/rss-creator": rss("<dc:creator>人民日报</dc:creator>", "关键词订阅", "rss-creator"),
    "/rss-channel": rss("", "新华社的微博", "rss-channel"),
    "/rss-nobody": rss("<author>路人小张</author>", "关键词订阅", "rss-nobody"),
    "/atom": atom("人民网 - 食品频道", "值班编辑"),
}
JSON_DOC = {"title": "新华网 JSON Feed", "items": [
    {"id": "json-1", "url": "https://example.cn/json-1", "text": TEXT, "source": {"name": "中国新闻网"}},
    {"id": "json-2", "url": "https://example.cn/json-2", "text": TEXT + "！"},
]}


async def feed_server() -> TestServer:
    async def serve(request: web.Request) -> web.Response:
        if request.path == "/json":
            return web.json_response(JSON_DOC)
        kind = "application/atom+xml" if request.path == "/atom" else "application/rss+xml"
        return web.Response(text=FEEDS[request.path], content_type=kind, charset="utf-8")

    app = web.Application()
    for path in [*FEEDS, "/json"]:
        app.router.add_get(path, serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def rows(services: Any) -> dict[str, dict[str, Any]]:
    found = await services.db.read(lambda db: list(db.query(
        "select m.external_id, m.author, m.channel, m.tier, m.reasons, i.tier as incident_tier "
        "from mentions m left join incidents i on i.id = m.incident_id")))
    return {r["external_id"]: r for r in found}


async def test_author_and_channel_title_of_polled_feeds_count_as_authority(settings: Any,
                                                                           services_factory: Any) -> None:
    server = await feed_server()
    try:
        sources = [{"name": f"feed{path.replace('/', '-')}", "kind": "rss", "url": str(server.make_url(path)),
                    "interval_s": 3600} for path in FEEDS]
        sources.append({"name": "json-api", "kind": "json", "url": str(server.make_url("/json")),
                        "items": "items", "fields": {"channel": "source.name"}, "feed_title": "title",
                        "interval_s": 3600})
        services = await services_factory(with_lists(settings, sources=sources))
        results = await services.monitor.poll_once()
        assert all(r.ok for r in results), [str(r) for r in results]
        got = await rows(services)
    finally:
        await server.close()

    assert got["rss-author"]["author"] == "央视新闻" and got["rss-author"]["channel"] == "麦香园 - 关键词订阅"
    assert got["rss-mailbox"]["author"] == "央视新闻"  # RSS 2.0 "mail (name)" form
    assert got["rss-creator"]["author"] == "人民日报"
    assert got["json-1"]["channel"] == "中国新闻网" and got["json-2"]["channel"] == "新华网 JSON Feed"
    for external_id, outlet in (("rss-author", "央视"), ("rss-mailbox", "央视"), ("rss-creator", "人民日报"),
                                ("rss-channel", "新华社"), ("tag:example.cn,2026:atom-1", "人民网"),
                                ("json-1", "中国新闻网"), ("json-2", "新华网")):
        row = got[external_id]
        assert row["tier"] == "P1", (external_id, row)
        assert f"{outlet}来源" in json.loads(row["reasons"]), (external_id, row["reasons"])
        assert row["incident_tier"] == "P1", (external_id, row)
    # The same text by an ordinary account through an ordinary feed stays below P1: authority decided it.
    assert got["rss-nobody"]["tier"] == "P3", got["rss-nobody"]


async def test_pushed_author_and_channel_count_as_authority(settings: Any, services_factory: Any) -> None:
    configured = with_lists(settings.with_overrides(monitor__enabled=False),
                            sources=[{"name": "crawler", "kind": "push", "token": "push-token-0123456789abcdef"}])
    services = await services_factory(configured)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    try:
        response = await client.post("/api/ingest", headers={"X-Lantern-Source-Token": "push-token-0123456789abcdef"},
                                     json={"items": [{"id": "p1", "text": TEXT, "author": "央视新闻"},
                                                     {"id": "p2", "text": TEXT + "。", "channel": "光明日报"},
                                                     {"id": "p3", "text": TEXT + "？", "author": "路人小张"}]})
        assert response.status == 200, await response.text()
    finally:
        await client.close()
    got = await rows(services)
    assert (got["p1"]["tier"], got["p2"]["tier"], got["p3"]["tier"]) == ("P1", "P1", "P3"), got
    assert got["p2"]["channel"] == "光明日报"


def test_the_strongest_of_author_channel_and_source_wins() -> None:
    policy = TierPolicy()
    assert policy.authority_among(["路人", "新京报", "央视新闻"]) == ("central_media", "央视")
    assert policy.authority_among(["新京报", None, ""]) == ("provincial_media", "新京报")
    assert policy.authority_among([None, "关键词订阅"]) == ("ordinary", None)
    by_author = policy.score(0.99, ["media_exposure"], Signals(source_name="rss-food", author="央视新闻"))
    by_source = policy.score(0.99, ["media_exposure"], Signals(source_name="央视新闻"))
    assert by_author == by_source and by_author[0] >= policy.p1



def test_html_page_title_is_the_channel() -> None:
    from zoneinfo import ZoneInfo

    from monitor.sources.html import parse_html

    page = ("<html><head><title>央视网 - 消费主张</title></head><body><ul class='news'>"
            f"<li><a href='/a1'>{TEXT[:20]}</a><p>{TEXT}</p></li></ul></body></html>")
    [mention] = parse_html(page, {"item": "ul.news li", "title": "a", "text": "p"}, source="web",
                           base_url="https://tv.example.cn/", now=0.0, tz=ZoneInfo("Asia/Shanghai")).mentions
    assert mention.channel == "央视网 - 消费主张"
    assert TierPolicy().authority_among([mention.author, mention.channel, "web"])[0] == "central_media"
