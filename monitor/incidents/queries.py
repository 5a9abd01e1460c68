"""Read side of incidents (list, detail with timeline / top sources / sentiment share) and plan attachments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from . import insight, store_ops
from .errors import UnknownIncidentError
from .model import State, check_tier

PUBLIC_HIDDEN = ("terms",)


def public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in PUBLIC_HIDDEN}
    out["negative_share"] = round(row["negative_count"] / row["mention_count"], 3) if row["mention_count"] else 0.0
    return out


def list_incidents(db: sqlite_utils.Database, *, state: str | None = None, tier: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    where, args = [], []
    if state:
        State(state)
        where.append("state = ?")
        args.append(state)
    if tier:
        check_tier(tier)
        where.append("tier = ?")
        args.append(tier)
    sql = "select * from incidents" + (" where " + " and ".join(where) if where else "")
    sql += " order by case state when 'resolved' then 1 else 0 end, tier, last_mention_at desc limit ? offset ?"
    return [public(store_ops.decode(r)) for r in db.query(sql, [*args, limit, offset])]


def detail(db: sqlite_utils.Database, incident_id: int, *, now: float | None = None,
           authority_of: insight.AuthorityOf | None = None) -> dict[str, Any]:
    """The incident with what its page shows (see :mod:`.insight`); ``now`` ends an open incident's timeline."""
    inc = public(store_ops.load(db, incident_id))
    authority = authority_of or insight.ordinary
    window = insight.timeline(db, inc, now if now is not None else float(inc["updated_at"] or 0.0))
    inc["timeline"] = window.pop("points")
    inc["timeline_window"] = window
    inc["top_sources"] = insight.top_sources(db, incident_id, authority)
    inc["top_authors"] = insight.top_authors(db, incident_id, authority)
    inc["tier_history"] = insight.tier_history(db, incident_id)
    if inc.get("tier_why"):
        for item in inc["tier_why"].get("inputs", []):
            if item.get("signal") == "mention_tier":
                item["mention"] = insight.strongest_mention(db, incident_id, item.get("tier"))
    counts = dict(db.execute("select coalesce(sentiment, 'unknown'), count(*) from mentions where incident_id = ? "
                             "group by 1", [incident_id]).fetchall())
    total = sum(counts.values())
    inc["sentiment_share"] = {k: round(v / total, 3) for k, v in counts.items()} if total else {}
    inc["events"] = [
        {**e, "detail": json.loads(e["detail"] or "{}")}
        for e in db.query("select at, kind, actor, detail from incident_events where incident_id = ? order by id",
                          [incident_id])
    ]
    inc["checklist"] = [
        {**c, "done": bool(c["done"])}
        for c in db.query("select id, plan, position, item, done, done_by, done_at from incident_checklist "
                          "where incident_id = ? order by plan, position", [incident_id])
    ]
    inc["mentions"] = list(db.query(
        "select id, source, title, url, author, sentiment, negative_probability, published_at from mentions "
        "where incident_id = ? order by id desc limit 20", [incident_id]))
    return inc


def start_plan(db: sqlite_utils.Database, incident_id: int, plan: str, checklist: Sequence[str], now: float) -> bool:
    """Attach a plan's checklist once per incident; False when the plan already started."""
    inc = store_ops.load(db, incident_id)
    if plan in inc["plans"]:
        return False
    store_ops.save(db, incident_id, {"plans": [*inc["plans"], plan]})
    for position, item in enumerate(checklist):
        db.table("incident_checklist").insert({"incident_id": incident_id, "plan": plan, "position": position,
                                               "item": item, "done": 0})
    store_ops.event(db, incident_id, now, "plan_started", f"预案:{plan}", plan=plan, items=len(checklist))
    return True


def link_script(db: sqlite_utils.Database, incident_id: int, script_id: Any, plan: str, now: float) -> None:
    inc = store_ops.load(db, incident_id)
    store_ops.save(db, incident_id, {"script_ids": [*inc["script_ids"], script_id]})
    store_ops.event(db, incident_id, now, "script_drafted", f"预案:{plan}", script_id=script_id, plan=plan)


def check_item(db: sqlite_utils.Database, incident_id: int, item_id: int, done: bool, actor: str,
               now: float) -> dict[str, Any]:
    store_ops.load(db, incident_id)
    rows = list(db.query("select * from incident_checklist where id = ? and incident_id = ?", [item_id, incident_id]))
    if not rows:
        raise UnknownIncidentError(f"事件 {incident_id} 没有清单项 {item_id} (no checklist item {item_id})")
    db.table("incident_checklist").update(item_id, {"done": int(done), "done_by": actor if done else None,
                                                    "done_at": now if done else None})
    store_ops.event(db, incident_id, now, "checklist", actor, item=rows[0]["item"], done=done)
    return {**rows[0], "done": done, "done_by": actor if done else None}


def heading(db: sqlite_utils.Database, incident_id: int) -> tuple[str, str] | None:
    """(title, tier) of an incident, or None when there is no such incident."""
    row = db.execute("select title, tier from incidents where id = ?", [incident_id]).fetchone()
    return (row[0] or "", row[1] or "") if row else None


def acknowledged_by(db: sqlite_utils.Database, incident_id: int) -> str:
    """Who acknowledged the incident (``user:NAME``, ``auto``...); "" when nobody or no such incident."""
    row = db.execute("select acknowledged_by from incidents where id = ?", [incident_id]).fetchone()
    return str(row[0] or "") if row else ""


def counts_and_states(db: sqlite_utils.Database, ids: Sequence[int]) -> dict[int, tuple[int | None, str | None]]:
    """Incident id -> (mention count, state), for the incidents of ``ids`` that exist."""
    if not ids:
        return {}
    marks = ",".join("?" for _ in ids)
    return {int(row[0]): (row[1], row[2]) for row in db.execute(
        f"select id, mention_count, state from incidents where id in ({marks})", list(ids)).fetchall()}


def hourly_mentions(db: sqlite_utils.Database, ids: Sequence[int], now: float, hours: int) -> dict[str, list[int]]:
    """For each incident id (as a string), mentions per hour for the last ``hours`` hours (oldest first)."""
    if not ids:
        return {}
    start_hour = int(now // 3600) - hours + 1
    series = {str(i): [0] * hours for i in ids}
    marks = ",".join("?" for _ in ids)
    rows = db.execute(
        f"select incident_id, cast(coalesce(published_at, fetched_at) / 3600 as integer) as hour, count(*) "
        f"from mentions where incident_id in ({marks}) and coalesce(published_at, fetched_at) >= ? "
        "group by incident_id, hour", [*ids, start_hour * 3600]).fetchall()
    for incident_id, hour, count in rows:
        index = int(hour) - start_hour
        if 0 <= index < hours:
            series[str(incident_id)][index] = int(count)
    return series


def classified_mentions(db: sqlite_utils.Database, incident_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """An incident's latest mentions with their classification (categories and reasons as lists)."""
    rows = db.query(
        "select id, source, title, substr(text, 1, 500) as text, url, author, author_reach, published_at, "
        "sentiment, negative_probability, categories, tier, reasons, duplicate_of from mentions "
        "where incident_id = ? order by coalesce(published_at, fetched_at) desc, id desc limit ?",
        [incident_id, limit])
    out = []
    for row in rows:
        for key in ("categories", "reasons"):
            try:
                row[key] = json.loads(row[key]) if row[key] else []
            except ValueError:
                row[key] = [row[key]]
        out.append(row)
    return out
