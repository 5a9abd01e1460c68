"""Inbound push (``kind = "push"``): mentions POSTed to ``/api/ingest`` with the source's token.

Nothing is polled.  Each item of a batch is a JSON object::

    {"id": "...", "url": "...", "title": "...", "text": "...", "author": "...",
     "author_reach": 12000, "published_at": "2026-11-23T09:00:00+08:00", "channel": "..."}

``author`` (the account, e.g. 央视新闻) and ``channel`` (the outlet or feed the
item came from) count for the tier's authority like the source's own name.

``text`` or ``title`` is required; ``id`` defaults to the URL, then to the
content hash.  A bad item gets its own error and never rejects the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, tzinfo
from typing import Any

from ..errors import IngestError
from ..items import reach, scrub
from ..mentions import Mention, content_hash
from ..normalize import html_to_text, parse_time
from .base import FetchState, Page, Source


def parse_push_item(item: Any, *, source: str, now: float, tz: tzinfo) -> Mention:
    """The mention of one pushed item (still to be checked by ``items.check``); IngestError/ItemError says why not."""
    if not isinstance(item, Mapping):
        raise IngestError("条目必须是 JSON 对象 (item must be an object)")
    for key in ("id", "url", "title", "text", "author", "channel"):
        if key in item and item[key] is not None and (isinstance(item[key], bool)
                                                      or not isinstance(item[key], str | int)):
            raise IngestError(f"{key} 必须是字符串 ({key} must be a string)")
    title = html_to_text(scrub(str(item.get("title") or "")))
    text = html_to_text(scrub(str(item.get("text") or ""))) or title
    url = scrub(str(item.get("url") or ""))
    if url and not url.startswith(("http://", "https://")):
        raise IngestError("url 必须以 http:// 或 https:// 开头 (url must be http(s))")
    published: datetime | None = None
    if item.get("published_at") not in (None, ""):
        published = parse_time(item["published_at"], now=now, tz=tz)
        if published is None:
            shown = scrub(str(item["published_at"]))[:60]
            raise IngestError(f"无法识别的时间 published_at={shown!r} (unreadable time)")
    external_id = scrub(str(item.get("id") or url or content_hash(f"{title}\n{text}")))
    return Mention(source=source, external_id=external_id, url=url, title=title, text=text,
                   published_at=published or datetime.fromtimestamp(now, tz),
                   author=html_to_text(scrub(str(item.get("author") or "")))[:200],
                   author_reach=reach(item.get("author_reach")),
                   channel=html_to_text(scrub(str(item.get("channel") or "")))[:200], raw=dict(item))


class PushSource(Source):
    kind = "push"
    needs_url = False
    scheduled = False

    async def pages(self, state: FetchState) -> AsyncIterator[Page]:
        return
        yield  # pragma: no cover - an async generator that yields nothing
