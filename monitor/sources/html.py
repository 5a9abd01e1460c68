"""Web pages (``kind = "html"``): CSS selectors pick items out of a listing page (selectolax/lexbor).

Options (selectors inside ``item`` are relative to one item)::

    item = "ul.news li"        # required: one element per mention
    title = "a.title"          # text of the first match
    link = "a.title"           # its href (link_attr to use another attribute); resolved against the page URL
    time = "span.time"         # its text, or time_attr (e.g. "datetime")
    text = "p.summary"         # default: the whole item's text
    author = "span.author"

The page's ``<title>`` is each mention's channel (it counts for authority,
like the author).  GBK/GB18030 pages are decoded from the HTTP charset, ``<meta charset>``, or
the source's ``encoding`` override.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, tzinfo
from typing import Any, ClassVar
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ..errors import ParseError, SourceConfigError
from ..http import decode_body
from ..items import Rejected, scrub
from ..mentions import Mention, content_hash
from ..normalize import collapse, parse_time
from .base import FetchState, Page, Parsed, Source

SELECTOR_KEYS = ("item", "title", "link", "time", "text", "author")


def _first(node: LexborNode, selector: str) -> LexborNode | None:
    return node.css_first(selector) if selector else None


def _text(node: LexborNode | None) -> str:
    return collapse(node.text(separator=" ")) if node is not None else ""


def parse_html(text: str, options: Mapping[str, Any], *, source: str, base_url: str, now: float,
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
        text = decode_body(resp.body, resp.charset, self.config.encoding)
        parsed = parse_html(text, self.config.options, source=self.config.name, base_url=self.config.url,
                            now=self.ctx.clock(), tz=self.ctx.tz)
        yield Page.of(parsed, FetchState(etag=resp.etag, last_modified=resp.last_modified))
