"""Web pages (``kind = "html"``): CSS selectors pick items out of a listing page (selectolax/lexbor).

Options (selectors inside ``item`` are relative to one item)::

    item = "ul.news li"        # required: one element per mention
    title = "a.title"          # text of the first match
    link = "a.title"           # its href (link_attr to use another attribute); resolved against the page URL
    time = "span.time"         # its text, or time_attr (e.g. "datetime")
    text = "p.summary"         # default: the whole item's text
    author = "span.author"

The page's ``<title>`` is each mention's channel (it counts for authority,
like the author).  The page is decoded in the encoding ``monitor/encoding.py`` chooses (the source's
``encoding`` override, BOM, HTTP charset, ``<meta charset>``, else detected with
GBK/GB18030 and Big5 first) and parsed in the parse worker; a page nested deeper
than ``MAX_DEPTH`` is refused before lexbor (quadratic in depth) sees it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, tzinfo
from typing import Any, ClassVar
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ..encoding import decode
from ..errors import MonitorError, ParseError, ParseLimitError, SourceConfigError
from ..items import Rejected, scrub
from ..mentions import Mention, content_hash
from ..normalize import collapse, parse_time, visible_markup
from .base import FetchState, Page, Parsed, Source

SELECTOR_KEYS = ("item", "title", "link", "time", "text", "author")
MAX_DEPTH = 2_000  # real pages nest < 100 deep; lexbor's time grows with the square of the depth (10k: 0.1 s)
_TAGS = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]{0,40})[^<>]*?(/?)>")
# Elements that never nest by themselves (void, or closed implicitly by the next one): not counted.
_FLAT = frozenset("area base br col embed hr img input link meta param source track wbr p li dt dd tr td th "
                  "option optgroup thead tbody tfoot colgroup caption rb rt rp rtc html head body a".split())


def html_depth(text: str, *, stop_at: int = MAX_DEPTH) -> int:
    """How deep the page's elements nest (approximately, from its tags; at most ``stop_at + 1``), in linear time."""
    depth = deepest = 0
    for m in _TAGS.finditer(visible_markup(text)):
        if m.group(3) or m.group(2).lower() in _FLAT:
            continue
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_at:
                    break
    return deepest


def _first(node: LexborNode, selector: str) -> LexborNode | None:
    return node.css_first(selector) if selector else None


def _text(node: LexborNode | None) -> str:
    return collapse(node.text(separator=" ")) if node is not None else ""


def parse_html_page(body: bytes, declared: str | None, override: str, options: Mapping[str, Any], *, source: str,
                    base_url: str, now: float, tz: tzinfo) -> Parsed:
    """:func:`parse_html` of fetched bytes, decoded in the encoding ``monitor.encoding`` chooses."""
    decoded = decode(body, declared, override, markup="html")
    parsed = parse_html(decoded.text, options, source=source, base_url=base_url, now=now, tz=tz)
    parsed.encoding, parsed.encoding_source = decoded.encoding, decoded.source
    return parsed


def parse_html(text: str, options: Mapping[str, Any], *, source: str, base_url: str, now: float,
               tz: tzinfo) -> Parsed:
    """Mentions picked out of a page by the source's selectors; ParseError for a page that cannot be read.

    A page nested deeper than ``MAX_DEPTH`` is refused before lexbor sees it (ParseLimitError).
    """
    depth = html_depth(text)
    if depth > MAX_DEPTH:
        raise ParseLimitError(f"页面元素嵌套超过 {MAX_DEPTH} 层，不予解析 (page nested deeper than {MAX_DEPTH})")
    try:
        return _parse_html(text, options, source=source, base_url=base_url, now=now, tz=tz)
    except MonitorError:
        raise
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError) as exc:
        raise ParseError(f"无法解析页面：{type(exc).__name__} (page could not be parsed)") from None


def _parse_html(text: str, options: Mapping[str, Any], *, source: str, base_url: str, now: float,
                tz: tzinfo) -> Parsed:
    tree = LexborHTMLParser(text)
    try:
        items = tree.css(options["item"])
    except (SelectolaxError, ValueError) as exc:
        raise ParseError(f"CSS 选择器无效：{options['item']!r} (invalid selector)") from exc
    if not items and tree.body is not None and not _text(tree.body):
        raise ParseError("页面为空或不是 HTML (empty page)")
    channel = _text(tree.css_first("head title"))[:200]
    out = Parsed([], len(items))
    for item in items:
        try:
            title_node = _first(item, options.get("title", ""))
            link_node = _first(item, options.get("link", "")) or title_node
            time_node = _first(item, options.get("time", ""))
            text_node = _first(item, options.get("text", "")) if options.get("text") else item
            author_node = _first(item, options.get("author", ""))
        except (SelectolaxError, ValueError) as exc:
            raise ParseError(f"CSS 选择器无效 (invalid selector): {exc}") from exc
        title = _text(title_node)
        body = _text(text_node) or title
        href = (link_node.attributes.get(options.get("link_attr", "href")) or "") if link_node is not None else ""
        try:
            url = urljoin(base_url, href.strip()) if href else ""
        except ValueError:  # e.g. "http://[bad": this item is refused, not the page
            out.rejected.append(Rejected(scrub(title or href)[:120], "链接无法解析 (unreadable link)"))
            continue
        if not body and not url:
            continue
        time_value: str | None = None
        if time_node is not None:
            attr = options.get("time_attr")
            time_value = time_node.attributes.get(attr) if attr else _text(time_node)
        published: datetime | None = parse_time(time_value, now=now, tz=tz)
        out.mentions.append(Mention(
            source=source, external_id=(url or content_hash(f"{title}\n{body}"))[:500], url=url, title=title,
            text=body, published_at=published or datetime.fromtimestamp(now, tz), author=_text(author_node),
            channel=channel, raw={"html": (item.html or "")[:20000]},
        ))
    return out


class HtmlSource(Source):
    kind = "html"
    options_help: ClassVar[dict[str, str]] = {
        "item": 'CSS selector of one mention on the page (required), e.g. "ul.news li".',
        "title": 'Selector inside an item for its title, e.g. "a.title".',
        "link": "Selector of its link (href, or link_attr); resolved against the page URL.",
        "time": "Selector of its time (text, or time_attr).",
        "text": "Selector of its text (default: the whole item).",
        "author": "Selector of its author.",
        "link_attr": "Attribute of the link element holding the URL (default href).",
        "time_attr": 'Attribute of the time element holding the time, e.g. "datetime".',
    }

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        known = set(cls.options_help)
        unknown = set(options) - known
        if unknown:
            raise SourceConfigError(f"unknown option(s) for kind html: {', '.join(sorted(unknown))}")
        if not isinstance(options.get("item"), str) or not options["item"].strip():
            raise SourceConfigError("html sources need an item selector (item = \"ul.list li\")")
        for key in known:
            if key in options and not isinstance(options[key], str):
                raise SourceConfigError(f"{key} must be a CSS selector string")
        probe = LexborHTMLParser("<div></div>")
        for key in SELECTOR_KEYS:
            if options.get(key):
                try:
                    probe.css(options[key])
                except (SelectolaxError, ValueError) as exc:
                    raise SourceConfigError(f"{key}: CSS 选择器无效 (invalid selector) {options[key]!r}") from exc
        return dict(options)

    async def pages(self, state: FetchState) -> AsyncIterator[Page]:
        resp = await self.ctx.fetcher.get(self.request(state))
        if resp.not_modified:
            yield Page([], 0, state)
            return
        parsed = await self.ctx.parser.run(parse_html_page, resp.body, resp.charset, self.config.encoding,
                                           dict(self.config.options), source=self.config.name,
                                           base_url=self.config.url, now=self.ctx.clock(), tz=self.ctx.tz)
        yield Page.of(parsed, FetchState(etag=resp.etag, last_modified=resp.last_modified))
