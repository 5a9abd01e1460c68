"""JSON APIs (``kind = "json"``): an item list at a path, a field mapping, cursor pagination.

Options::

    items = "data.list"            # dotted path to the list of items ("" = the document is the list)
    [sources.fields]               # mention field -> dotted path inside one item
    id = "mid"; url = "scheme"; title = "title"; text = "text"; author = "user.screen_name"
    author_reach = "user.followers_count"; published_at = "created_at"
    channel = "source.name"        # the outlet / channel the item came from (counts for authority)
    feed_title = "title"           # dotted path, in the whole document, of a channel title for every item
                                   # (JSON Feed's "title"); an item's own channel field wins
    cursor_param = "cursor"        # query parameter carrying the cursor (enables pagination)
    next_cursor = "data.next_cursor"   # dotted path of the next cursor in the answer
    max_pages = 5                  # pages followed per poll

Pagination resumes where the last poll stopped: each page's mentions are
stored together with the cursor that follows them, so a crash between pages
re-reads nothing already stored and skips nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, tzinfo
from typing import Any

from ..errors import ParseError, SourceConfigError
from ..http import decode_body
from ..mentions import Mention, content_hash
from ..normalize import html_to_text, parse_time
from .base import FetchState, Page, Source

FIELDS = ("id", "url", "title", "text", "author", "author_reach", "published_at", "channel")
DEFAULT_FIELDS = {"id": "id", "url": "url", "title": "title", "text": "text", "author": "author",
                  "author_reach": "author_reach", "published_at": "published_at", "channel": "channel"}
_MISSING = object()


def lookup(doc: Any, path: str) -> Any:
    """Value at a dotted path (``a.b.0.c``), or ``_MISSING``."""
    if not path:
        return doc
    node = doc
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _str(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _text(value: Any) -> str:
    """A name field (author, channel): strings and numbers only, never a nested object's repr."""
    return html_to_text(_str(value))[:200] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _reach(value: Any) -> int | None:
    if isinstance(value, bool) or value is _MISSING or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        scale = 10_000 if text.endswith("万") else 100_000_000 if text.endswith("亿") else 1
        try:
            return int(float(text.rstrip("万亿")) * scale)
        except ValueError:
            return None
    return None


def parse_json(text: str, options: Mapping[str, Any], *, source: str, now: float,
               tz: tzinfo) -> tuple[list[Mention], int, str | None]:
    """(mentions, items in the answer, next cursor or None); ParseError on bad JSON or shape."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg} (malformed JSON)") from exc
    items_path = options.get("items", "")
    items = lookup(doc, items_path)
    if not isinstance(items, list):
        where = items_path or "(根)"
        raise ParseError(f"JSON 中 {where} 处不是条目列表 (no item list at {where!r})")
    fields = {**DEFAULT_FIELDS, **options.get("fields", {})}
    feed_title = _text(lookup(doc, options["feed_title"])) if options.get("feed_title") else ""
    mentions: list[Mention] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        title = html_to_text(_str(lookup(item, fields["title"])))
        text = html_to_text(_str(lookup(item, fields["text"]))) or title
        url = _str(lookup(item, fields["url"]))
        if not text and not url:
            continue
        external_id = _str(lookup(item, fields["id"])) or url or content_hash(f"{title}\n{text}")
        published: datetime | None = parse_time(lookup(item, fields["published_at"]) if fields["published_at"]
                                                else None, now=now, tz=tz)
        mentions.append(Mention(
            source=source, external_id=external_id[:500], url=url, title=title, text=text,
            published_at=published or datetime.fromtimestamp(now, tz),
            author=_text(lookup(item, fields["author"])), author_reach=_reach(lookup(item, fields["author_reach"])),
            channel=_text(lookup(item, fields["channel"])) or feed_title, raw=dict(item),
        ))
    next_cursor = None
    if options.get("next_cursor"):
        value = lookup(doc, options["next_cursor"])
        next_cursor = _str(value) or None
    return mentions, len(items), next_cursor


class JsonSource(Source):
    kind = "json"

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        known = {"items", "fields", "cursor_param", "next_cursor", "max_pages", "feed_title"}
        unknown = set(options) - known
        if unknown:
            raise SourceConfigError(f"unknown option(s) for kind json: {', '.join(sorted(unknown))}")
        out = dict(options)
        for key in ("items", "feed_title"):
            if not isinstance(out.get(key, ""), str):
                raise SourceConfigError(f"{key} must be a dotted path string")
        fields = out.get("fields", {})
        if not isinstance(fields, Mapping) or not all(k in FIELDS and isinstance(v, str) for k, v in fields.items()):
            raise SourceConfigError(f"fields must map some of {', '.join(FIELDS)} to dotted paths")
        if bool(out.get("cursor_param")) != bool(out.get("next_cursor")):
            raise SourceConfigError("cursor pagination needs both cursor_param and next_cursor")
        pages = out.setdefault("max_pages", 5)
        if isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= 100:
            raise SourceConfigError("max_pages must be an integer from 1 to 100")
        return out

    async def pages(self, state: FetchState) -> AsyncIterator[Page]:
        opts = self.config.options
        paginated = bool(opts.get("cursor_param"))
        cursor = state.cursor
        for _ in range(int(opts.get("max_pages", 5))):
            params = {opts["cursor_param"]: cursor or ""} if paginated else {}
            resp = await self.ctx.fetcher.get(self.request(state, conditional=not paginated, **params))
            if resp.not_modified:
                yield Page([], 0, state)
                return
            text = decode_body(resp.body, resp.charset, self.config.encoding)
            mentions, seen, next_cursor = parse_json(text, opts, source=self.config.name, now=self.ctx.clock(),
                                                     tz=self.ctx.tz)
            new_cursor = next_cursor or cursor
            yield Page(mentions, seen, FetchState(etag=resp.etag, last_modified=resp.last_modified,
                                                  cursor=new_cursor))
            if not paginated or not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor
