"""When a mention that joins no incident may open one: the bar against alert fatigue.

* A mention the classifier put at P3 or above opens an incident when it is
  negative or carries a risk category.
* A P4 mention opens one on its own only with a risk category *and* clear
  negativity (``negative_probability >= open_negative``).
* Any other clearly negative P4 mention ("这次的水煮肉片有点咸") waits in the
  *watch*: it stays unattached, counting toward the brand's baseline volume,
  and pages nobody.  Once ``watch_min`` similar clearly negative mentions
  (same words, or reposts of one original) arrived within ``watch_window_s``,
  they open one incident together.
* Positive and neutral mentions without a risk category never open anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.mentions import Mention, StoredMention

from . import grouping
from .model import TIERS, rank


def opens_directly(m: StoredMention, open_negative: float) -> bool:
    if m.tier not in TIERS:
        return False
    if rank(m.tier) <= 3:
        return m.sentiment == "negative" or bool(m.categories)
    return bool(m.categories) and m.negative_probability >= open_negative


def watched(m: StoredMention, open_negative: float) -> bool:
    """A mention the watch keeps an eye on (it may open an incident together with similar ones)."""
    return m.tier in TIERS and m.negative_probability >= open_negative


def row_content(row: dict[str, Any]) -> str:
    title, text = row.get("title") or "", row.get("text") or ""
    stem = title.rstrip(".…").rstrip()
    return text if not stem or text.startswith(stem) else f"{title}\n{text}"


def from_row(row: dict[str, Any]) -> StoredMention:
    """A stored mention row as listeners receive it."""
    at = row.get("published_at") or row.get("fetched_at") or 0.0
    try:
        raw = json.loads(row.get("raw") or "{}")
    except ValueError:
        raw = {}
    mention = Mention(source=row["source"] or "", external_id=row.get("external_id") or str(row["id"]),
                      url=row.get("url") or "", title=row.get("title") or "", text=row.get("text") or "",
                      published_at=datetime.fromtimestamp(float(at), UTC), author=row.get("author") or "",
                      author_reach=row.get("author_reach"), channel=row.get("channel") or "",
                      raw=raw if isinstance(raw, dict) else {})
    return StoredMention(id=int(row["id"]), mention=mention, sentiment=row.get("sentiment") or "neutral",
                         negative_probability=float(row.get("negative_probability") or 0.0),
                         categories=tuple(json.loads(row.get("categories") or "[]")), tier=row.get("tier") or "P4",
                         reasons=tuple(json.loads(row.get("reasons") or "[]")), duplicate_of=row.get("duplicate_of"))


def corroborating(m: StoredMention, mention_terms: Sequence[str], rows: Sequence[dict[str, Any]],
                  stats: grouping.TermStats, threshold: float) -> list[StoredMention]:
    """The watched rows telling the same story as ``m`` (reposts of one original, or shared words)."""
    root = m.duplicate_of or m.id
    out = []
    for row in rows:
        if row["id"] == m.id:
            continue
        same_root = (row.get("duplicate_of") or row["id"]) == root
        if same_root or grouping.share(mention_terms, grouping.terms(row_content(row)), stats) >= threshold:
            out.append(from_row(row))
    return out
