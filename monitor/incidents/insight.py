"""What an incident page shows beyond the row: timeline, top authors and sources, tier history, mention pages.

Read-only functions run inside ``store.read``.  ``authority_of`` maps an
outlet or account name to the tier policy's authority code (central_media,
provincial_media, industry_media, verified, ordinary); the caller passes the
classifier's, so this module needs no classifier.

**Timeline buckets fit the incident's age**: the smallest of :data:`BUCKETS`
giving at most :data:`MAX_BUCKETS` buckets between the first mention and now
(or the resolution), so a 20-minute-old incident is drawn in minutes and a
week-old one in hours.  At least :data:`MIN_BUCKETS` are returned (earlier
empty buckets before the first mention), so a young incident is not one block.
A mention's time is when it was published, else when it was fetched, kept
within a day before the incident opened (an old article joining late does not
stretch the chart over years).

**Mentions are folded by original**: near-duplicate reposts (``duplicate_of``)
are grouped under their original (or, when the original is not part of the
incident, the earliest repost); a page lists groups newest original first with
``reposts`` = how many more the group holds.  Paging is by cursor
(``next_before``, the last group's key), as every paged list of the API.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import sqlite_utils

BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_BUCKETS = 60
MIN_BUCKETS = 12
DAY_OFFSET_S = 8 * 3600  # day buckets start at midnight Asia/Shanghai (no DST)
AUTHORITY_RANK = {"central_media": 0, "provincial_media": 1, "industry_media": 2, "verified": 3, "ordinary": 4}

AuthorityOf = Callable[[str], str]


def ordinary(_name: str) -> str:
    return "ordinary"


def _at(inc: dict[str, Any]) -> str:
    """SQL for a mention's time, kept within a day before the incident opened."""
    floor = float(inc["opened_at"] or 0.0) - 86400
    return f"max(coalesce(published_at, fetched_at), {floor!r})"


def bucket_for(span_s: float) -> int:
    """The smallest bucket that draws ``span_s`` seconds in at most MAX_BUCKETS buckets."""
    for size in BUCKETS:
        if span_s <= size * MAX_BUCKETS:
            return size
    return BUCKETS[-1]


def timeline(db: sqlite_utils.Database, inc: dict[str, Any], now: float) -> dict[str, Any]:
    """Mentions and negative mentions per bucket from the first mention to now (or the resolution)."""
    at = _at(inc)
    first, last = db.execute(f"select min({at}), max({at}) from mentions where incident_id = ?",
                             [inc["id"]]).fetchone()
    if first is None:
        return {"bucket_s": BUCKETS[0], "start": None, "end": None, "points": []}
    end = max(float(last), float(inc["resolved_at"] or 0.0)) if inc["state"] == "resolved" else max(now, last)
    size = bucket_for(end - first)
    offset = DAY_OFFSET_S if size >= 86400 else 0
    last_bucket = math.floor((end + offset) / size)
    first_bucket = min(math.floor((first + offset) / size), last_bucket - MIN_BUCKETS + 1)
    origin = first_bucket * size - offset
    count = last_bucket - first_bucket + 1
    points = [{"t": origin + i * size, "mentions": 0, "negative": 0, "negative_share": None} for i in range(count)]
    rows = db.execute(
        f"select cast((min({at}, ?) - ?) / ? as integer) as slot, count(*), "
        "sum(case when sentiment = 'negative' then 1 else 0 end) from mentions where incident_id = ? "
        "group by slot", [end, origin, size, inc["id"]]).fetchall()
    for slot, mentions, negative in rows:
        if slot is not None and 0 <= slot < count:  # None: a mention with no time at all
            points[slot].update(mentions=int(mentions), negative=int(negative or 0),
                                negative_share=round((negative or 0) / mentions, 3) if mentions else None)
    return {"bucket_s": size, "start": origin, "end": origin + count * size, "points": points}


def top_authors(db: sqlite_utils.Database, incident_id: int, authority_of: AuthorityOf = ordinary,
                limit: int = 10) -> list[dict[str, Any]]:
    """The incident's authors, most authoritative first, then by reach: who carries the story."""
    rows = db.execute(
        "select author, group_concat(distinct source), count(*), max(coalesce(author_reach, 0)), "
        "sum(case when sentiment = 'negative' then 1 else 0 end), "
        "sum(case when duplicate_of is not null then 1 else 0 end) from mentions "
        "where incident_id = ? and coalesce(author, '') != '' group by author "
        "order by max(coalesce(author_reach, 0)) desc, count(*) desc limit 500", [incident_id]).fetchall()
    out = [{"author": author, "sources": sorted(str(sources or "").split(",")), "mentions": int(n),
            "reach": int(reach) or None, "negative": int(negative or 0), "reposts": int(reposts or 0),
            "authority": authority_of(str(author))}
           for author, sources, n, reach, negative, reposts in rows]
    out.sort(key=lambda a: (AUTHORITY_RANK.get(a["authority"], 9), -(a["reach"] or 0), -a["mentions"]))
    return out[:limit]


def top_sources(db: sqlite_utils.Database, incident_id: int, authority_of: AuthorityOf = ordinary,
                limit: int = 5) -> list[dict[str, Any]]:
    """The incident's sources by volume, with their negative count, widest reach and authority."""
    rows = db.execute(
        "select source, count(*) as n, sum(case when sentiment = 'negative' then 1 else 0 end), "
        "max(coalesce(author_reach, 0)) from mentions where incident_id = ? group by source "
        "order by n desc, source limit ?", [incident_id, limit]).fetchall()
    return [{"source": source, "mentions": int(n), "negative": int(negative or 0), "reach": int(reach) or None,
             "authority": authority_of(str(source))} for source, n, negative, reach in rows]


def tier_history(db: sqlite_utils.Database, incident_id: int) -> list[dict[str, Any]]:
    """Every tier the incident had, oldest first: when, from what, who, the person's reason, the signals."""
    rows = db.query("select at, tier, previous, actor, reason, why from incident_tier_history "
                    "where incident_id = ? order by at, id", [incident_id])
    return [{**r, "why": json.loads(r["why"]) if r["why"] else None} for r in rows]


MENTION_COLUMNS = ("id, source, title, substr(text, 1, 500) as text, url, author, author_reach, published_at, "
                   "fetched_at, sentiment, negative_probability, categories, tier, reasons, duplicate_of")


def _decode(row: dict[str, Any], authority_of: AuthorityOf) -> dict[str, Any]:
    for key in ("categories", "reasons"):
        try:
            row[key] = json.loads(row[key]) if row[key] else []
        except ValueError:
            row[key] = [row[key]]
    row["authority"] = authority_of(str(row["author"])) if row.get("author") else None
    return row


def mention_page(db: sqlite_utils.Database, incident_id: int, *, before: int | None = None, limit: int = 20,
                 authority_of: AuthorityOf = ordinary) -> dict[str, Any]:
    """One page of the incident's mentions, reposts folded under their original (newest original first)."""
    args: list[Any] = [incident_id]
    having = ""
    if before is not None:
        having = "having grp < ? "
        args.append(before)
    groups = db.execute(
        "select coalesce(duplicate_of, id) as grp, count(*), "
        "case when sum(id = coalesce(duplicate_of, id)) > 0 then coalesce(duplicate_of, id) else min(id) end "
        f"from mentions where incident_id = ? group by grp {having}order by grp desc limit ?",
        [*args, limit + 1]).fetchall()
    more = len(groups) > limit
    groups = groups[:limit]
    shown = {int(rep): (int(grp), int(n)) for grp, n, rep in groups}
    rows: dict[int, dict[str, Any]] = {}
    if shown:
        marks = ",".join("?" for _ in shown)
        rows = {r["id"]: r for r in db.query(f"select {MENTION_COLUMNS} from mentions where id in ({marks})",
                                             list(shown))}
    items = []
    for rep, (grp, n) in shown.items():
        if rep in rows:
            items.append({**_decode(rows[rep], authority_of), "group": grp, "reposts": n - 1})
    totals = db.execute("select count(*), count(distinct coalesce(duplicate_of, id)) from mentions "
                        "where incident_id = ?", [incident_id]).fetchone()
    return {"items": items, "next_before": groups[-1][0] if more else None, "total": int(totals[0]),
            "groups": int(totals[1])}


def reposts(db: sqlite_utils.Database, incident_id: int, group: int, *, after: int | None = None,
            limit: int = 50, authority_of: AuthorityOf = ordinary) -> dict[str, Any]:
    """The folded members of one group (all but the one the page shows), oldest first, ids above ``after``."""
    rep = db.execute(
        "select case when sum(id = ?) > 0 then ? else min(id) end from mentions "
        "where incident_id = ? and coalesce(duplicate_of, id) = ?", [group, group, incident_id, group]).fetchone()
    shown = rep[0] if rep else None
    rows = list(db.query(
        f"select {MENTION_COLUMNS} from mentions where incident_id = ? and coalesce(duplicate_of, id) = ? "
        "and id != ? and id > ? order by id limit ?", [incident_id, group, shown or -1, after or 0, limit + 1]))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [_decode(r, authority_of) for r in rows], "group": group,
            "next_after": rows[-1]["id"] if more else None}


def strongest_mention(db: sqlite_utils.Database, incident_id: int, tier: str | None) -> dict[str, Any] | None:
    """The mention whose own tier is the incident's ``mention_tier`` (the most negative of them)."""
    if not tier:
        return None
    rows = list(db.query("select id, source, author, title, substr(text, 1, 120) as text from mentions "
                         "where incident_id = ? and tier = ? order by negative_probability desc, id limit 1",
                         [incident_id, tier]))
    return rows[0] if rows else None
