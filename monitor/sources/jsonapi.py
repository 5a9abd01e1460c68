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
from typing import Any, ClassVar

from ..encoding import decode
from ..errors import ItemError, ParseError, ParseLimitError, SourceConfigError
from ..items import Rejected, clean_raw, json_int, reach, scrub
from ..mentions import Mention, content_hash
from ..normalize import html_to_text, parse_time
from .base import FetchState, Page, Parsed, Source

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


def _item_mention(item: Mapping[str, Any], fields: Mapping[str, str], *, source: str, now: float,
                  tz: tzinfo, feed_title: str = "") -> Mention | None:
    """The mention of one item (None when it has neither text nor link); ItemError when a field is bad."""
    title = html_to_text(_str(lookup(item, fields["title"])))
    text = html_to_text(_str(lookup(item, fields["text"]))) or title
    url = _str(lookup(item, fields["url"]))
    if not text and not url:
        return None
    external_id = _str(lookup(item, fields["id"])) or url or content_hash(f"{title}\n{text}")
    published: datetime | None = parse_time(lookup(item, fields["published_at"]) if fields["published_at"]
                                            else None, now=now, tz=tz)
    reach_value = lookup(item, fields["author_reach"])
    return Mention(
        source=source, external_id=external_id[:500], url=url, title=title, text=text,
        published_at=published or datetime.fromtimestamp(now, tz),
        author=_text(lookup(item, fields["author"])), author_reach=reach(None if reach_value is _MISSING
                                                                         else reach_value),
        channel=_text(lookup(item, fields["channel"])) or feed_title, raw=clean_raw(dict(item)),
    )


def parse_json_page(body: bytes, declared: str | None, override: str, options: Mapping[str, Any], *, source: str,
                    now: float, tz: tzinfo) -> Parsed:
    """:func:`parse_json` of fetched bytes (UTF-8 unless a BOM, the server or the source says otherwise)."""
    decoded = decode(body, declared, override, markup="json")
    parsed = parse_json(decoded.text, options, source=source, now=now, tz=tz)
    parsed.encoding, parsed.encoding_source = decoded.encoding, decoded.source
    return parsed


def parse_json(text: str, options: Mapping[str, Any], *, source: str, now: float, tz: tzinfo) -> Parsed:
    """Mentions of one answer, its item count and next cursor; ParseError on bad JSON or shape.

    An item that cannot be read (a non-finite or absurd number, nesting too deep...) is refused on its
    own, with its reason in ``rejected``; the other items of the page are kept.
    """
    try:
        doc = json.loads(text, parse_int=json_int)
    except json.JSONDecodeError as exc:
        raise ParseError(f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg} (malformed JSON)") from exc
    except RecursionError:
        raise ParseLimitError("JSON 嵌套过深，无法解析 (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ParseError(f"JSON 无法解析：{exc} (unreadable JSON)") from None
    items_path = options.get("items", "")
    items = lookup(doc, items_path)
    if not isinstance(items, list):
        where = items_path or "(根)"
        raise ParseError(f"JSON 中 {where} 处不是条目列表 (no item list at {where!r})")
    fields = {**DEFAULT_FIELDS, **options.get("fields", {})}
    feed_title = _text(lookup(doc, options["feed_title"])) if options.get("feed_title") else ""
    out = Parsed([], len(items))
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        try:
            mention = _item_mention(item, fields, source=source, now=now, tz=tz, feed_title=feed_title)
        except ItemError as exc:
            out.rejected.append(Rejected(_label(item, fields, index), str(exc)))
            continue
        except (RecursionError, ValueError, TypeError, OverflowError) as exc:
            out.rejected.append(Rejected(_label(item, fields, index), f"无法读取（{type(exc).__name__}）"
                                         "(unreadable item)"))
            continue
        if mention is not None:
            out.mentions.append(mention)
    if options.get("next_cursor"):
        value = lookup(doc, options["next_cursor"])
        out.next_cursor = scrub(_str(value))[:2000] or None
    return out


def _label(item: Mapping[str, Any], fields: Mapping[str, str], index: int) -> str:
    """How a refused item is named on the source's health: its id or URL, else its place in the list."""
    for key in ("id", "url"):
        value = lookup(item, fields[key])
        if isinstance(value, str | int) and not isinstance(value, bool):
            return scrub(str(value))[:120]
    return f"#{index}"


class JsonSource(Source):
    kind = "json"
    options_help: ClassVar[dict[str, str]] = {
        "items": 'Dotted path to the list of items in the answer, e.g. "data.list" ("" = the answer is the list).',
        "fields": 'Table: mention field -> dotted path inside one item, for id, url, title, text, author, '
                  'author_reach, published_at, channel, e.g. { text = "content", author = "user.screen_name" } '
                  "(default: the same names). The author and the channel count for authority (央视新闻 = 中央媒体).",
        "feed_title": "Dotted path, in the whole answer, of a channel title for every item (e.g. \"title\").",
        "cursor_param": "Query parameter that carries the paging cursor (turns paging on).",
        "next_cursor": 'Dotted path of the next cursor in the answer, e.g. "data.next_cursor".',
        "max_pages": "Pages followed per poll (default 5).",
    }

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        known = set(cls.options_help)
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
            parsed = await self.ctx.parser.run(parse_json_page, resp.body, resp.charset, self.config.encoding,
                                               dict(opts), source=self.config.name, now=self.ctx.clock(),
                                               tz=self.ctx.tz)
            next_cursor = parsed.next_cursor
            yield Page.of(parsed, FetchState(etag=resp.etag, last_modified=resp.last_modified,
                                             cursor=next_cursor or cursor))
            if not paginated or not next_cursor or next_cursor == cursor:
                return
            cursor = next_cursor
