"""RSS 2.0 / Atom / RSSHub feeds (``kind = "rss"``), parsed by feedparser.

Clean UTF-8 RSS 2.0 takes a fast path (``rss_fast.py``); everything else,
including every malformed feed, goes through feedparser.

RSSHub routes (``/weibo/keyword/…``, ``/weibo/user/…``, ``/zhihu/hot``,
``/sina/tousu/…``) are plain RSS 2.0 whose ``<description>`` is HTML; the
text is extracted from it.  Each mention keeps the item's author (``<author>``,
``dc:creator``, Atom ``<author><name>``) and the feed's title as its channel:
both count for the tier's authority (an item by 央视新闻 is central media).
Options: none beyond the common ones.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, tzinfo
from typing import Any
from xml.parsers import expat

import feedparser

from ..encoding import choose
from ..errors import MonitorError, ParseError, ParseLimitError
from ..items import Rejected
from ..mentions import Mention, content_hash
from ..normalize import html_to_text, parse_time
from .base import FetchState, Page, Parsed, Source
from .rss_fast import parse_rss2

_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>")
MAX_REPAIR_TAGS = 50_000  # a malformed feed with more tags would take feedparser's loose parser many seconds


def _get(entry: Any, key: str, default: Any = None) -> Any:
    """Plain dict lookup: FeedParserDict's aliasing (``updated`` -> ``published``) warns."""
    return dict.get(entry, key, default)


def _entry_time(entry: Any, *, now: float, tz: tzinfo) -> datetime:
    for key in ("published", "updated", "created"):
        parsed = parse_time(_get(entry, key), now=now, tz=tz)
        if parsed is not None:
            return parsed
        struct = _get(entry, f"{key}_parsed")
        if struct:
            year, month, day, hour, minute, second = struct[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return datetime.fromtimestamp(now, tz)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "未知错误"
    line = getattr(exc, "getLineNumber", lambda: None)()
    where = f"第 {line} 行：" if line else ""
    return f"{where}{getattr(exc, 'getMessage', lambda: str(exc))()}"


_MAILBOX = re.compile(r"^\s*[^\s@()]+@[^\s()]+\s*\((?P<name>[^()]+)\)\s*$")


def author_name(value: Any) -> str:
    """The author's name: RSS 2.0 ``<author>`` is often ``mail@host (Name)``, RSSHub's is just the name."""
    text = html_to_text(value if isinstance(value, str) else "")
    m = _MAILBOX.match(text)
    return m.group("name").strip() if m else text


def _entry_author(entry: Any) -> str:
    detail = _get(entry, "author_detail")
    name = detail.get("name") if isinstance(detail, dict) else None
    return author_name(name) if name else author_name(_get(entry, "author", ""))


# bozo reasons that are not damage: the declared and used encodings differ (we re-encode to UTF-8), odd MIME type.
_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _feedparser_entries(body: bytes, content_type: str, warnings: list[str] | None = None) -> list[Any]:
    """feedparser's entries; a feed it could read only in part (truncated, broken XML) adds a warning."""
    headers = {"content-type": content_type} if content_type else {}
    try:
        feed = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser is defensive, but a parser bug must not kill the poller
        raise ParseError(f"无法解析订阅源：{type(exc).__name__} (feed parser failed)") from exc
    entries: list[Any] = feed.get("entries") or []
    if not entries and (feed.get("bozo") or not feed.get("version")):
        if feed.get("bozo"):
            raise ParseError(f"订阅源 XML 格式错误（{_describe(feed.get('bozo_exception'))}）(malformed feed)")
        raise ParseError("返回的内容不是 RSS/Atom 订阅源 (not an RSS or Atom feed)")
    damage = feed.get("bozo_exception")
    if entries and feed.get("bozo") and warnings is not None and not isinstance(damage, _HARMLESS):
        warnings.append(f"订阅源不完整或 XML 有误（{_describe(damage)}），已保存能读出的 {len(entries)} 条 "
                        "(feed truncated or malformed: stored what could be read)")
    channel = html_to_text(dict.get(feed.get("feed") or {}, "title", "") or "")
    if channel:
        for entry in entries:
            entry["feed_title"] = channel  # not "channel": feedparser aliases it to "feed"
    return entries


def _check_repairable(body: bytes) -> None:
    """Refuse a malformed document too large for feedparser's tolerant parser (pure Python, ~10k tags a second).

    A well-formed one (checked by expat, in C) goes to feedparser's strict parser, which is fast enough.
    """
    parser = expat.ParserCreate()
    try:
        parser.Parse(body, True)
        return
    except expat.ExpatError:
        pass
    tags = body.count(b"<")
    if tags > MAX_REPAIR_TAGS:
        raise ParseLimitError(f"订阅源 XML 格式有误，且有 {tags} 个标签（容错解析上限 {MAX_REPAIR_TAGS}），不予解析 "
                              "(malformed feed too large to repair)")


def _entry_mention(entry: Any, *, source: str, now: float, tz: tzinfo) -> Mention | None:
    title = html_to_text(_get(entry, "title", ""))
    contents = _get(entry, "content") or []
    body_html = contents[0].get("value", "") if contents else _get(entry, "summary", "")
    text = html_to_text(body_html) or title
    if not text and not title:
        return None
    url = _get(entry, "link", "") or ""
    external_id = _get(entry, "id") or url or content_hash(f"{title}\n{text}")
    raw = {k: _get(entry, k) for k in ("id", "link", "title", "author", "published", "updated")
           if _get(entry, k) is not None}
    raw["summary"] = body_html[:20000]
    return Mention(
        source=source, external_id=str(external_id)[:500], url=url, title=title, text=text,
        published_at=_entry_time(entry, now=now, tz=tz), author=_entry_author(entry)[:200],
        channel=html_to_text(_get(entry, "feed_title", "") or "")[:200], raw=raw,
    )


def parse_feed(body: bytes, *, source: str, now: float, tz: tzinfo, content_type: str = "",
               encoding: str = "") -> Parsed:
    """Mentions of an RSS/Atom document and the number of entries; ParseError if it is not a feed.

    An entry that cannot be read is refused on its own (``rejected``); the others are kept.
    """
    try:
        return _parse_feed(body, source=source, now=now, tz=tz, content_type=content_type, encoding=encoding)
    except MonitorError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, IndexError, KeyError, RecursionError) as exc:
        raise ParseError(f"无法解析订阅源：{type(exc).__name__} (feed parser failed)") from None


def _parse_feed(body: bytes, *, source: str, now: float, tz: tzinfo, content_type: str, encoding: str) -> Parsed:
    declared = content_type.lower().partition("charset=")[2].strip(" \"';") or None
    chosen, how = choose(body, declared, encoding, markup="xml")
    if chosen != "utf-8" or (_XML_DECL.match(body) and b"encoding" in body[:200]):
        # One decoding for both parsers: read in the chosen encoding, handed over as declaration-free UTF-8.
        body = _XML_DECL.sub(b"", body.decode(chosen, errors="replace").encode("utf-8"), count=1)
    content_type = "application/xml; charset=utf-8"
    warnings: list[str] = []
    entries: list[Any] | None = parse_rss2(body, content_type)
    if entries is None:
        _check_repairable(body)
        entries = _feedparser_entries(body, content_type, warnings)
    out = Parsed([], len(entries))
    for index, entry in enumerate(entries):
        try:
            mention = _entry_mention(entry, source=source, now=now, tz=tz)
        except (ValueError, TypeError, OverflowError, AttributeError, KeyError, IndexError) as exc:
            name = _get(entry, "id") or _get(entry, "link") or f"#{index}"
            out.rejected.append(Rejected(str(name)[:120], f"无法读取（{type(exc).__name__}）(unreadable entry)"))
            continue
        if mention is not None:
            out.mentions.append(mention)
    out.warnings, out.encoding, out.encoding_source = warnings, chosen, how
    return out


class RssSource(Source):
    kind = "rss"

    async def pages(self, state: FetchState) -> AsyncIterator[Page]:
        resp = await self.ctx.fetcher.get(self.request(state))
        if resp.not_modified:
            yield Page([], 0, state)
            return
        parsed = await self.ctx.parser.run(
            parse_feed, resp.body, source=self.config.name, now=self.ctx.clock(), tz=self.ctx.tz,
            content_type=resp.content_type + (f"; charset={resp.charset}" if resp.charset else ""),
            encoding=self.config.encoding)
        yield Page.of(parsed, FetchState(etag=resp.etag, last_modified=resp.last_modified, cursor=state.cursor))
