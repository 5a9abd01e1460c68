"""When a mention that joins no incident may open one: the bar against alert fatigue.

* A mention the classifier put at P3 or above opens an incident when it is
  negative or carries a risk category.
* A P4 mention opens one on its own only with a risk category *and* clear
  negativity (``negative_probability >= open_negative``).
* Any other clearly negative P4 mention ("这次的水煮肉片有点咸") waits in the
  *watch*: it stays unattached, counting toward the brand's baseline volume,
  and pages nobody.  Once ``watch_min`` clearly negative mentions telling one
  story (reposts of one original, a shared hashtag, or words that match the
  story they tell together, as :func:`backfill` finds them) arrived within
  ``watch_window_s``, they open one incident together.
* Positive and neutral mentions without a risk category never open anything.
* When an incident opens, the story's earlier posts that waited unattached
  (within the incident window, whatever their sentiment) join it: posts
  with one of its hashtags, posts whose words match it, and their reposts
  (:func:`backfill`).  A story's first posts are often mild ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.mentions import Mention, StoredMention

from . import grouping, story
from .model import TIERS, rank

BACKFILL_NEGATIVE = 0.0  # any sentiment: the story's words decide
BACKFILL_LIMIT = 2000  # the newest unattached mentions an opening incident looks through


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


def corroborating(m: StoredMention, feats: story.Features, rows: Sequence[dict[str, Any]], brand: str,
                  brand_of: Callable[[StoredMention], str], brand_words: Callable[[StoredMention], Sequence[str]],
                  stats: grouping.TermStats, rules: grouping.Rules) -> list[StoredMention]:
    """The watched ``rows`` telling the same story as ``m``: reposts of one original, and the posts the
    story test of :func:`backfill` finds (a shared hashtag, or words that match the story ``m`` and the
    posts found so far tell), so the watch groups posts the way an open incident would take them."""
    root = m.duplicate_of or m.id
    rows = [r for r in rows if r["id"] != m.id]
    same = [from_row(r) for r in rows if (r.get("duplicate_of") or r["id"]) == root]
    seed = story.Profile()
    seed.add(feats)
    found = backfill(seed, brand, [r for r in rows if (r.get("duplicate_of") or r["id"]) != root], brand_of,
                     brand_words, stats, rules)
    return [*same, *(s for s, _ in found)]


def backfill(profile: story.Profile, brand: str, rows: Sequence[dict[str, Any]],
             brand_of: Callable[[StoredMention], str], brand_words: Callable[[StoredMention], Sequence[str]],
             stats: grouping.TermStats,
             rules: grouping.Rules, passes: int = 3) -> list[tuple[StoredMention, story.Features]]:
    """The unattached ``rows`` that tell the story ``profile`` describes (same brand; hashtag or words).

    Each pass adds what it found to a copy of the profile, so a retelling that matches only the posts
    found in the first pass is found in the next.
    """
    grown = story.Profile(dict(profile.support), list(profile.tags), profile.posts)
    todo = []
    for row in rows:
        m = from_row(row)
        if not brand or not (other := brand_of(m)) or other == brand:
            todo.append((m, grouping.features(m.mention.content, brand_words(m))))
    out: list[tuple[StoredMention, story.Features]] = []
    for _ in range(passes):
        found, rest = [], []
        for m, feats in todo:
            if set(feats.tags) & set(grown.tags):
                found.append((m, feats))
            elif not (feats.tags and grown.tags) and grouping.similarity(
                    grouping.weights(feats.terms, stats), grown, stats) >= rules.threshold:
                found.append((m, feats))
            else:
                rest.append((m, feats))
        if not found:
            break
        for _, feats in found:
            grown.add(feats)
        out += found
        todo = rest
    return out
