"""Database work of the incident engine: plain functions run inside ``store.write``/``store.read``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from classifiers import OFFICIAL_REASON

from .errors import UnknownIncidentError

JSON_COLUMNS = ("categories", "sources", "terms", "plans", "script_ids", "reasons")
JSON_OBJECT_COLUMNS = ("tier_why",)  # a JSON object, or NULL


def decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for col in JSON_COLUMNS:
        if col in out:
            out[col] = json.loads(out[col] or "[]")
    for col in JSON_OBJECT_COLUMNS:
        if col in out:
            out[col] = json.loads(out[col]) if out[col] else None
    return out


def load(db: sqlite_utils.Database, incident_id: int) -> dict[str, Any]:
    rows = list(db.query("select * from incidents where id = ?", [incident_id]))
    if not rows:
        raise UnknownIncidentError(message_zh=f"没有编号为 {incident_id} 的事件",
                                   message_en=f"no incident {incident_id}")
    return decode(rows[0])


def save(db: sqlite_utils.Database, incident_id: int, values: dict[str, Any]) -> None:
    encoded = {k: json.dumps(v, ensure_ascii=False) if k in JSON_COLUMNS or (k in JSON_OBJECT_COLUMNS and v is not None)
               else v for k, v in values.items()}
    db.table("incidents").update(incident_id, encoded)


def event(db: sqlite_utils.Database, incident_id: int, at: float, kind: str, actor: str = "",
          **detail: Any) -> None:
    db.table("incident_events").insert({"incident_id": incident_id, "at": at, "kind": kind, "actor": actor,
                                        "detail": json.dumps(detail, ensure_ascii=False)})


def open_candidates(db: sqlite_utils.Database, since: float) -> list[dict[str, Any]]:
    rows = db.query("select id, terms, categories, brand, tier, last_mention_at from incidents "
                    "where state != 'resolved' and last_mention_at >= ?", [since])
    return [decode(r) for r in rows]


def outlets(db: sqlite_utils.Database, incident_id: int, limit: int = 100) -> list[str]:
    """The incident's authors and channel titles (outlet names such as 央视财经, 新京报), widest reach first.

    Every name counts for the incident's authority, so the limit is generous: an RSS item by 央视新闻
    carries no follower count and must not fall behind a hundred reposters with one.
    """
    rows = db.execute("select name from (select author as name, author_reach as reach from mentions "
                      "where incident_id = ? union all select channel, author_reach from mentions "
                      "where incident_id = ?) where coalesce(name, '') != '' "
                      "group by name order by max(coalesce(reach, 0)) desc, name limit ?",
                      [incident_id, incident_id, limit]).fetchall()
    return [str(r[0]) for r in rows]


def unattached(db: sqlite_utils.Database, since: float, min_negative: float,
               exclude: Sequence[int] = (), limit: int | None = None) -> list[dict[str, Any]]:
    """Classified mentions since ``since`` in no incident and at least ``min_negative`` negative (the watch);
    with ``limit``, only the newest ``limit`` of them (still oldest first)."""
    order = "order by id desc limit ?" if limit is not None else "order by id"
    params: list[Any] = [since, min_negative, *([limit] if limit is not None else [])]
    rows = list(db.query(f"select * from mentions where incident_id is null and classified_at is not null "
                         f"and {_arrival()} >= ? and negative_probability >= ? {order}", params))
    if limit is not None:
        rows.reverse()
    skip = set(exclude)
    return [r for r in rows if r["id"] not in skip]


def recent_texts(db: sqlite_utils.Database, since: float, limit: int) -> list[str]:
    rows = db.execute(f"select coalesce(title, '') || '\n' || coalesce(text, '') from mentions "
                      f"where {_arrival()} >= ? order by id desc limit ?", [since, limit]).fetchall()
    return [str(r[0]) for r in rows]


def incident_of_mention(db: sqlite_utils.Database, mention_id: int) -> int | None:
    row = db.execute("select m.incident_id from mentions m join incidents i on i.id = m.incident_id "
                     "where m.id = ? and i.state != 'resolved'", [mention_id]).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _arrival() -> str:
    return "coalesce(fetched_at, published_at)"


def volume(db: sqlite_utils.Database, incident_id: int, start: float, end: float) -> int:
    row = db.execute(f"select count(*) from mentions where incident_id = ? and {_arrival()} >= ? "
                     f"and {_arrival()} < ?", [incident_id, start, end]).fetchone()
    return int(row[0])


def source_hourly(db: sqlite_utils.Database, sources: Sequence[str], now: float, days: int) -> tuple[int, list[int]]:
    """Mentions of ``sources`` in the last hour, and per earlier hour over ``days`` (zeros included)."""
    if not sources:
        return 0, []
    marks = ",".join("?" for _ in sources)
    start = now - days * 86400
    rows = db.execute(
        f"select cast((? - {_arrival()}) / 3600 as integer) as ago, count(*) from mentions "
        f"where source in ({marks}) and {_arrival()} > ? and {_arrival()} <= ? group by ago",
        [now, *sources, start, now]).fetchall()
    counts = [0] * (days * 24)
    for ago, count in rows:
        if 0 <= ago < len(counts):
            counts[int(ago)] = int(count)
    return counts[0], counts[1:]


def attach_mention(db: sqlite_utils.Database, mention_id: int, incident_id: int) -> None:
    db.execute("update mentions set incident_id = ? where id = ?", [incident_id, mention_id])


def placed(db: sqlite_utils.Database, mention_id: int) -> tuple[int, str] | None:
    """(incident id, state) of the incident ``mention_id`` is attached to, or None."""
    row = db.execute("select i.id, i.state from mentions m join incidents i on i.id = m.incident_id "
                     "where m.id = ?", [mention_id]).fetchone()
    return (int(row[0]), str(row[1])) if row else None


# a brand's own statement (its apology; the classifier's reasons carry OFFICIAL_REASON) is not public negativity
RECOUNT = ("mention_count = (select count(*) from mentions m where m.incident_id = incidents.id), "
           "negative_count = (select count(*) from mentions m where m.incident_id = incidents.id "
           f"and m.sentiment = 'negative' and instr(coalesce(m.reasons, ''), '{OFFICIAL_REASON}') = 0)")


def recount(db: sqlite_utils.Database, incident_id: int) -> None:
    """An incident's counts are its attached mentions (so attaching twice, or a replay, counts once)."""
    db.execute(f"update incidents set {RECOUNT} where id = ?", [incident_id])


def tier_history(db: sqlite_utils.Database, incident_id: int, at: float, tier: str, previous: str | None,
                 actor: str, reason: str = "", why: dict[str, Any] | None = None) -> None:
    """One row of the re-tier history (the opening tier has ``previous`` None)."""
    db.table("incident_tier_history").insert({
        "incident_id": incident_id, "at": at, "tier": tier, "previous": previous, "actor": actor, "reason": reason,
        "why": json.dumps(why, ensure_ascii=False) if why is not None else None})


def has_tier_history(db: sqlite_utils.Database, incident_id: int) -> bool:
    return db.execute("select 1 from incident_tier_history where incident_id = ? limit 1",
                      [incident_id]).fetchone() is not None
