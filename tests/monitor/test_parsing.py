"""Pure parsing and normalising: feeds, JSON, GBK HTML, times, URLs, SimHash near-duplicates."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from monitor.encoding import choose, decode
from monitor.errors import ParseError
from monitor.http import parse_retry_after
from monitor.normalize import html_to_text, normalise_url, parse_time
from monitor.simhash import NearDuplicateIndex, hamming, simhash
from monitor.sources.html import parse_html
from monitor.sources.jsonapi import parse_json
from monitor.sources.rss import parse_feed
from tests.support_monitor import fixture_bytes

TZ = ZoneInfo("Asia/Shanghai")
NOW = 1_795_400_000.0


def test_rsshub_weibo_keyword() -> None:
    parsed = parse_feed(fixture_bytes("rsshub_weibo_keyword.xml"), source="wb", now=NOW, tz=TZ)
    mentions = parsed.mentions
    assert parsed.items_seen == 4 and not parsed.rejected
    first = mentions[0]
    assert first.external_id == "https://weibo.com/1234567890/N9abcDEfg"
    assert first.author == "吃货小王"
    assert first.published_at == datetime(2026, 11, 23, 8, 59, 12, tzinfo=UTC)
    assert "<img" not in first.text and "老鼠乱窜" in first.text
    assert first.raw["link"] == first.url


def test_rsshub_zhihu_hot_and_sina_tousu() -> None:
    zhihu = parse_feed(fixture_bytes("rsshub_zhihu_hot.xml"), source="zh", now=NOW, tz=TZ).mentions
    assert zhihu[0].title == "如何看待鲜味楼后厨被曝老鼠乱窜、过期食材重新贴标？"
    assert "热度" in zhihu[0].text
    tousu = parse_feed(fixture_bytes("rsshub_sina_tousu.xml"), source="ts", now=NOW, tz=TZ).mentions
    assert len(tousu) == 2 and "投诉对象" in tousu[0].text and tousu[0].author == "黑猫用户8423"


def test_atom_feed_naive_time_is_shanghai() -> None:
    mentions = parse_feed(fixture_bytes("atom.xml"), source="atom", now=NOW, tz=TZ).mentions
    assert mentions[0].author == "北京市市场监管局"
    assert mentions[0].published_at.utcoffset() is not None
    assert mentions[0].published_at == datetime(2026, 11, 23, 16, 45, tzinfo=TZ)
    assert mentions[1].published_at == datetime(2026, 11, 22, 10, 0, tzinfo=TZ)  # naive -> Asia/Shanghai


def test_malformed_and_non_feeds_give_clear_errors() -> None:
    with pytest.raises(ParseError, match="XML 格式错误"):
        parse_feed(fixture_bytes("malformed.xml"), source="bad", now=NOW, tz=TZ)
    with pytest.raises(ParseError, match="不是 RSS/Atom"):
        parse_feed(b"<html><body>login required</body></html>", source="bad", now=NOW, tz=TZ)
    with pytest.raises(ParseError):
        parse_feed(b"\x00\xff\xfe garbage", source="bad", now=NOW, tz=TZ)


def test_encoding_override_for_a_lying_feed() -> None:
    xml = fixture_bytes("rsshub_zhihu_hot.xml").decode("utf-8").replace('encoding="UTF-8"', 'encoding="gbk"')
    body = xml.replace('encoding="gbk"', 'encoding="UTF-8"').encode("gb18030")  # says UTF-8, is GB18030
    mentions = parse_feed(body, source="zh", now=NOW, tz=TZ, encoding="gbk").mentions
    assert mentions[0].title.startswith("如何看待鲜味楼")


def test_json_api_mapping_and_cursor() -> None:
    options = {"items": "data.list", "next_cursor": "data.next_cursor",
               "fields": {"id": "mid", "url": "scheme", "text": "text_raw", "author": "user.screen_name",
                          "author_reach": "user.followers_count", "published_at": "created_at"}}
    parsed = parse_json(fixture_bytes("json_api_page1.json").decode(), options, source="api", now=NOW, tz=TZ)
    mentions = parsed.mentions
    assert (parsed.items_seen, parsed.next_cursor) == (2, "c2")
    assert mentions[0].author_reach == 5230 and mentions[1].author_reach == 12000  # "1.2万"
    assert mentions[0].published_at == datetime(2026, 11, 23, 17, 20, 11, tzinfo=TZ)
    with pytest.raises(ParseError, match="第 1 行"):
        parse_json('{"data": [1, 2,', options, source="api", now=NOW, tz=TZ)
    with pytest.raises(ParseError, match=r"data\.list"):
        parse_json('{"data": {"items": []}}', options, source="api", now=NOW, tz=TZ)


def test_gbk_html_page_with_selectors() -> None:
    body = fixture_bytes("gbk_page.html")
    assert choose(body, None) == ("gb18030", "meta")
    options = {"item": "li.item", "title": "a.title", "time": "span.time", "text": "p.summary",
               "author": "span.author"}
    parsed = parse_html(decode(body).text, options, source="page", base_url="https://315.example.cn/list/",
                        now=NOW, tz=TZ)
    mentions = parsed.mentions
    assert parsed.items_seen == 3
    assert mentions[0].title == "鲜味楼望京店吃完上吐下泻，门店拒绝赔偿医药费"
    assert mentions[0].url == "https://315.example.cn/complaint/2026/1123/88001.html"
    assert mentions[1].published_at == datetime(2026, 11, 23, 15, 5, tzinfo=TZ)
    assert mentions[0].author == "消费者张女士"
    assert "\ufffd" not in mentions[0].text


def test_time_formats() -> None:
    assert parse_time("5分钟前", now=NOW, tz=TZ) == datetime.fromtimestamp(NOW - 300, TZ)
    assert parse_time("刚刚", now=NOW, tz=TZ) == datetime.fromtimestamp(NOW, TZ)
    assert parse_time(NOW * 1000, now=NOW, tz=TZ) == datetime.fromtimestamp(NOW, UTC)
    assert parse_time("昨天 08:30", now=NOW, tz=TZ).hour == 8  # type: ignore[union-attr]
    assert parse_time("not a time", now=NOW, tz=TZ) is None
    assert parse_time("2026-02-30 10:00", now=NOW, tz=TZ) is None


def test_url_normalisation() -> None:
    a = normalise_url("HTTPS://www.Weibo.com:443/123/abc/?utm_source=rss&b=2&a=1#comments")
    b = normalise_url("http://weibo.com/123/abc?a=1&b=2")
    assert a == b == "weibo.com/123/abc?a=1&b=2"
    assert normalise_url("https://example.com:8443/x") == "example.com:8443/x"


def test_fast_path_matches_feedparser_and_falls_back() -> None:
    from monitor.sources.rss import _feedparser_entries
    from monitor.sources.rss_fast import parse_rss2

    for name in ("rsshub_weibo_keyword.xml", "rsshub_zhihu_hot.xml", "rsshub_sina_tousu.xml"):
        body = fixture_bytes(name)
        fast = parse_rss2(body, "application/rss+xml; charset=utf-8")
        slow = _feedparser_entries(body, "application/rss+xml; charset=utf-8")
        assert fast is not None and len(fast) == len(slow)
        for f, s in zip(fast, slow, strict=True):
            for key in ("id", "link", "title", "published"):
                assert f.get(key) == dict.get(s, key), (name, key)
            assert html_to_text(f["summary"]) == html_to_text(dict.get(s, "summary", ""))
    assert parse_rss2(fixture_bytes("atom.xml")) is None  # Atom: feedparser
    assert parse_rss2(fixture_bytes("malformed.xml")) is None
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss version="2.0"><channel></channel></rss>'
    assert parse_rss2(bomb) is None  # never expands entities on the fast path
    assert parse_rss2(b'<?xml version="1.0" encoding="gbk"?><rss version="2.0"/>') is None


def test_html_to_text_drops_markup_and_scripts() -> None:
    assert html_to_text("价格 a < b 且 c > d") == "价格 a < b 且 c > d"
    assert html_to_text("<!-- 注释 -->正文<style>p{}</style>") == "正文"
    html = "<p>鲜味楼 &amp; <b>后厨</b></p><script>alert(1)</script><p>第二段</p>"
    assert html_to_text(html) == "鲜味楼 & 后厨\n第二段"


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("120", now=NOW) == 120
    when = datetime.fromtimestamp(NOW + 90, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(when, now=NOW) == pytest.approx(90, abs=1)
    assert parse_retry_after("soon", now=NOW) == 60


ORIGINAL = "【暗访】鲜味楼后厨老鼠乱窜、过期食材重新贴标再使用 新京报记者历时两个月卧底鲜味楼北京、上海多家门店后厨"


def test_simhash_finds_reposts_not_unrelated_posts() -> None:
    repost = f"太恶心了！//@新京报: {ORIGINAL} http://t.cn/A6abc"
    zhihu = f"如何看待？{ORIGINAL}，大家怎么看"
    other = "周末和朋友去鲜味楼吃了招牌酸菜鱼，鱼片很嫩，汤底酸爽，服务员也很热情，推荐！"
    h = simhash(ORIGINAL)
    assert hamming(h, simhash(repost)) <= 10
    assert hamming(h, simhash(zhihu)) <= 10
    assert hamming(h, simhash(other)) > 16
    index = NearDuplicateIndex(max_distance=10)
    index.add(1, h, NOW)
    index.add(2, simhash(other), NOW)
    assert index.find(simhash(repost)).original_id == 1  # type: ignore[union-attr]
    assert index.find(simhash("鲜味楼年夜饭定金不退，发生这样的食品安全事件凭什么不能退")) is None
    index.discard([1])
    assert index.find(simhash(repost)) is None
    index.prune(NOW + 8 * 86400)
    assert len(index) == 0
