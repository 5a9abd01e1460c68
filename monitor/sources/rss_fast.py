"""A fast path for the common case: well-formed UTF-8 RSS 2.0 (what RSSHub emits).

feedparser handles every feed dialect and every kind of breakage, at about
4,500 entries/s on this machine; RSSHub's clean RSS 2.0 parses ~40x faster
with the C ElementTree.  :func:`parse_rss2` returns entries in feedparser's
key names (plus ``feed_title``: the ``<channel><title>``), or None whenever
the document is anything but plain UTF-8 RSS 2.0 without a DOCTYPE — then
feedparser does the job, so malformed feeds still get its tolerant parsing
and its error messages.

No DOCTYPE means no entity declarations, so no entity-expansion attack can
reach this parser; expat never fetches external resources.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.-]+)[\"']")
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"


def parse_rss2(body: bytes, content_type: str = "") -> list[dict[str, Any]] | None:
    charset = content_type.lower().partition("charset=")[2].strip(" \"';")
    if charset and charset not in ("utf-8", "utf8"):
        return None
    head = body[:512]
    m = _DECL.match(head)
    if m and m.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DOCTYPE, see the module docstring
    except ET.ParseError:
        return None
    if root.tag != "rss" or not root.get("version", "").startswith("2"):
        return None
    channel = root.find("channel")
    if channel is None:
        return None
    channel_title = (channel.findtext("title") or "").strip()
    entries = []
    for item in channel.iter("item"):
        entry: dict[str, Any] = {}
        for key, tag in (("title", "title"), ("link", "link"), ("id", "guid"), ("summary", "description"),
                         ("published", "pubDate"), ("author", "author")):
            value = item.findtext(tag)
            if value is not None:
                entry[key] = value.strip()
        content = item.findtext(_CONTENT)
        if content:
            entry["content"] = [{"value": content}]
        if not entry.get("author") and (creator := item.findtext(_CREATOR)):
            entry["author"] = creator.strip()
        if channel_title:
            entry["feed_title"] = channel_title
        entries.append(entry)
    return entries
