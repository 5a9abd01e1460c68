"""Property-based fuzzing (issue #11): feed bytes, JSON answers, HTML pages and push payloads.

The parsers raise nothing but the project's own errors (``MonitorError``), finish well within their limit
(hypothesis' deadline on small inputs; crafted large inputs through the real worker with its time limit),
and whatever they return can be stored. Example counts stay modest to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("hypothesis", reason="the test extra: pip install -e '.[test]'")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ItemError, MonitorError, ParseLimitError
from monitor.items import MAX_REACH, check
from monitor.mentions import Mention
from monitor.parsing import ParseWorkers
from monitor.sources.html import parse_html
from monitor.sources.jsonapi import parse_json, parse_json_page
from monitor.sources.push import parse_push_item
from monitor.sources.rss import parse_feed

TZ = ZoneInfo("Asia/Shanghai")
NOW = 1_795_428_000.0
FUZZ = settings(max_examples=60, deadline=timedelta(seconds=3), suppress_health_check=[HealthCheck.too_slow])

# Text with what breaks naive code: lone surrogates, NUL and control characters, markup, entities, CJK, RTL.
nasty_chars = st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\x1b", "\u202e", "\ufeff", "<", ">", "&", "鲜"]))
nasty_text = st.lists(st.one_of(st.text(alphabet=nasty_chars, max_size=20), st.sampled_from(
    ["&#0;", "&#x110000;", "]]>", "鲜味楼", "&lt;script", "2099-01-01T00:00:00Z", "1e400"])), max_size=4).map("".join)
TAGS = ["rss", "channel", "item", "title", "link", "description", "guid", "pubDate", "feed", "entry", "content",
        "summary", "updated", "author", "script", "style", "div", "li", "a", "p", "!--", "![CDATA[", "?xml"]


@st.composite
def markup(draw: Any) -> str:
    """Tag soup: opening, closing and broken tags around nasty text."""
    parts = []
    for _ in range(draw(st.integers(0, 30))):
        tag = draw(st.sampled_from(TAGS))
        parts.append(draw(st.sampled_from([f"<{tag}>", f"</{tag}>", f"<{tag} version=\"2.0\">", f"<{tag}",
                                           f'<{tag} href="http://[bad">', "&amp;", "&bogus;", ""])))
        parts.append(draw(nasty_text))
    return "".join(parts)


def feed_of(body: str) -> str:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{body}</channel></rss>'


feed_bytes = st.one_of(
    st.binary(max_size=2000),
    markup().map(lambda s: s.encode("utf-8", "surrogatepass")),
    markup().map(lambda s: feed_of(s).encode("utf-8", "surrogatepass")),
    st.tuples(markup(), st.sampled_from(["utf-8", "gb18030", "big5", "utf-16", "latin-1"])).map(
        lambda p: feed_of(p[0]).encode(p[1], "replace")),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), nasty_text),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(nasty_text, inner, max_size=5)),
    max_leaves=30)
item_keys = st.sampled_from(["id", "url", "title", "text", "author", "author_reach", "published_at", "channel",
                             "extra"])
items = st.one_of(json_values, st.dictionaries(item_keys, json_values, max_size=8))


def storable(mention: Mention) -> None:
    """What the pipeline would write: valid UTF-8 text, strict JSON raw, SQLite-bindable numbers."""
    for text in (mention.source, mention.external_id, mention.url, mention.title, mention.text, mention.author,
                 mention.channel):
        text.encode("utf-8")
    raw = json.dumps(mention.raw, ensure_ascii=False, allow_nan=False)
    assert mention.author_reach is None or 0 <= mention.author_reach <= MAX_REACH
    assert math.isfinite(mention.published_at.timestamp())
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE TABLE m (id TEXT, text TEXT, reach INTEGER, at REAL, raw TEXT)")
        conn.execute("INSERT INTO m VALUES (?,?,?,?,?)", (mention.external_id, mention.text, mention.author_reach,
                                                        mention.published_at.timestamp(), raw))


@FUZZ
@given(feed_bytes, st.sampled_from(["", "application/rss+xml; charset=utf-8", "text/xml; charset=gbk"]))
def test_feed_bytes_never_raise_anything_but_our_errors(body: bytes, content_type: str) -> None:
    try:
        parsed = parse_feed(body, source="fz", now=NOW, tz=TZ, content_type=content_type)
    except MonitorError:
        return
    for mention in parsed.mentions:
        try:
            cleaned, _ = check(mention, now=NOW, tz=TZ)
        except ItemError:
            continue
        storable(cleaned)


@FUZZ
@given(json_values, st.sampled_from(["", "data", "data.list", "0"]))
def test_json_answers_never_raise_anything_but_our_errors(doc: Any, path: str) -> None:
    text = json.dumps({"data": {"list": doc}} if path == "data.list" else doc, allow_nan=True)
    try:
        parsed = parse_json(text, {"items": path, "next_cursor": "data.next"}, source="fz", now=NOW, tz=TZ)
    except MonitorError:
        return
    for mention in parsed.mentions:
        try:
            storable(check(mention, now=NOW, tz=TZ)[0])
        except ItemError:
            pass


@FUZZ
@given(st.binary(max_size=1500), st.sampled_from([None, "utf-8", "gbk", "nonsense"]))
def test_json_bytes_in_any_encoding(body: bytes, declared: str | None) -> None:
    try:
        parse_json_page(body, declared, "", {"items": ""}, source="fz", now=NOW, tz=TZ)
    except MonitorError:
        pass


@FUZZ
@given(markup(), st.sampled_from(["li", "a", "div p", "item"]))
def test_html_pages_never_raise_anything_but_our_errors(page: str, selector: str) -> None:
    try:
        parsed = parse_html(page, {"item": selector, "title": "a", "link": "a", "time": "span"}, source="fz",
                            base_url="https://x.example.cn/", now=NOW, tz=TZ)
    except MonitorError:
        return
    for mention in parsed.mentions:
        try:
            storable(check(mention, now=NOW, tz=TZ)[0])
        except ItemError:
            pass


@FUZZ
@given(items)
def test_push_items_are_stored_or_refused_with_a_reason(item: Any) -> None:
    try:
        mention, _ = check(parse_push_item(item, source="fz", now=NOW, tz=TZ), now=NOW, tz=TZ, strict=True)
    except ItemError as exc:
        assert str(exc)
        return
    storable(mention)


def test_push_payloads_over_the_api_never_answer_500(tmp_path: Path) -> None:
    """The real /api/ingest (aiohttp app, SQLite file) under generated batches: 200 or 422, never a 500."""
    from aiohttp.test_utils import TestClient, TestServer

    from tests.support_monitor import Clock, monitor_client, open_db
    from tests.web.api.test_monitor import PUSH_TOKEN
    from web.compose import Part, build_services
    from web.platform.settings import Settings, load_settings

    async def start() -> tuple[TestClient, Any]:
        settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False,
                                                        monitor__ingest_per_minute=0)
        settings = Settings(settings.as_dict(), {**settings.lists, "sources": [
            {"name": "hook", "kind": "push", "token": PUSH_TOKEN}]}, None)
        db = open_db(tmp_path / "l.db")
        services = await build_services(settings, clock=Clock(), db=db, parts={Part.MONITOR})

        async def make(app: Any) -> TestClient:
            client = TestClient(TestServer(app, host="127.0.0.1"))
            await client.start_server()
            return client

        return await monitor_client(make, services), db

    loop = asyncio.new_event_loop()
    client, db = loop.run_until_complete(start())

    async def push(batch: list[Any]) -> tuple[int, Any]:
        body = json.dumps(batch, allow_nan=True).encode()
        async with client.post("/api/ingest", data=body, headers={"X-Lantern-Source-Token": PUSH_TOKEN,
                                                                 "Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(items, max_size=6))
    def check_batch(batch: list[Any]) -> None:
        status, answer = loop.run_until_complete(push(batch))
        assert status in (200, 422), answer
        assert sorted(r["index"] for r in answer["rejected"]) == [r["index"] for r in answer["rejected"]]
        assert answer["accepted"] + answer["duplicates"] + answer["filtered"] + len(answer["rejected"]) == len(batch)

    try:
        check_batch()
    finally:
        loop.run_until_complete(client.close())
        db.close()
        loop.close()


async def test_crafted_large_inputs_finish_within_the_parse_limit() -> None:
    """Inputs that took the old code minutes (quadratic regular expressions, deep nesting), through the real
    worker: each must finish (a result or our own error) well inside a generous limit."""
    workers = ParseWorkers(time_limit_s=30)
    big = 300_000
    bodies = [
        feed_of("<item><title>鲜味楼</title><description>" + "&lt;script" * big + "</description></item>"),
        feed_of("<item><title>鲜味楼</title><description>" + "&lt;a" * big + "</description></item>"),
        feed_of("<item><title>鲜味楼</title><description>" + "\u2000" * big + "x</description></item>"),
        feed_of("<item><title>鲜味楼</title><description><![CDATA[" + "<!--" * big + "]]></description></item>"),
        feed_of("<item><pubDate>" + "1" * big + "</pubDate><title>x</title></item>"),
        "<div>" * big,
    ]
    for body in bodies:
        try:
            parsed = await workers.run(parse_feed, body.encode("utf-8"), source="big", now=NOW, tz=TZ)
            assert parsed.items_seen <= 1
        except ParseLimitError as exc:  # refused at once by a size or depth limit: fine; stopped by the clock: not
            assert "秒仍未完成" not in str(exc), f"over the time limit: {body[:80]!r}"
        except MonitorError:
            pass
    try:
        await workers.run(parse_json, "[" * 200_000 + "]" * 200_000, {"items": ""}, source="big", now=NOW, tz=TZ)
    except ParseLimitError as exc:
        assert "嵌套" in str(exc)
