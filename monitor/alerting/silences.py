"""Silences and maintenance windows: matching alerts are not sent while they are active.

A silence has a start and an end (epoch seconds), optional matchers (tiers,
categories, brands, channels, incident_id; empty = everything) and, for a
recurring maintenance window, an optional daily local window "HH:MM-HH:MM"
that applies between start and end.  Silenced alerts are not marked as sent,
so they go out when the silence ends if the incident is still active.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from monitor.incidents.model import TIERS

from .errors import SilenceError, UnknownSilenceError
from .quiet import in_window, parse_window, window_end

MATCHERS = ("tiers", "categories", "brands", "channels", "incident_id")
KINDS = ("silence", "maintenance")


def validate(body: dict[str, Any], now: float) -> dict[str, Any]:
    """A silence row from user input, or :class:`SilenceError` naming the problem."""
    if not isinstance(body, dict):
        raise SilenceError("请求体必须是 JSON 对象 (body must be a JSON object)")
    kind = body.get("kind", "silence")
    if kind not in KINDS:
        raise SilenceError(f"kind 必须是 {' 或 '.join(KINDS)} (kind must be silence or maintenance)")
    starts = body.get("starts_at", now)
    ends = body.get("ends_at")
    if not isinstance(starts, int | float) or not isinstance(ends, int | float) or isinstance(ends, bool):
        raise SilenceError("starts_at / ends_at 必须是时间戳（秒） (must be epoch seconds)")
    if ends <= starts or ends <= now:
        raise SilenceError("结束时间必须晚于开始时间和当前时间 (ends_at must be after starts_at and now)")
    matchers: dict[str, Any] = {}
    raw = body.get("matchers") or {}
    if not isinstance(raw, dict) or set(raw) - set(MATCHERS):
        raise SilenceError(f"matchers 只能包含 {', '.join(MATCHERS)} (unknown matcher)")
    for key, value in raw.items():
        if key == "incident_id":
            if not isinstance(value, int) or isinstance(value, bool):
                raise SilenceError("incident_id 必须是整数 (must be an integer)")
            matchers[key] = value
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SilenceError(f"{key} 必须是字符串列表 (must be a list of strings)")
        if key == "tiers" and set(value) - set(TIERS):
            raise SilenceError("tiers 只能是 P1..P4 (tiers must be P1..P4)")
        matchers[key] = value
    daily = str(body.get("daily") or "")
    try:
        parse_window(daily, "daily")
    except Exception as exc:
        raise SilenceError(str(exc)) from None
    comment = str(body.get("comment") or "")[:500]
    return {"kind": kind, "starts_at": float(starts), "ends_at": float(ends), "daily": daily,
            "matchers": json.dumps(matchers, ensure_ascii=False), "comment": comment}


def create(db: sqlite_utils.Database, body: dict[str, Any], actor: str, now: float) -> dict[str, Any]:
    row = validate(body, now)
    table = db.table("alert_silences")
    table.insert({**row, "created_by": actor, "created_at": now, "deleted": 0})
    return get(db, int(table.last_pk))  # type: ignore[arg-type]


def get(db: sqlite_utils.Database, silence_id: int) -> dict[str, Any]:
    rows = list(db.query("select * from alert_silences where id = ? and deleted = 0", [silence_id]))
    if not rows:
        raise UnknownSilenceError(message_zh=f"没有编号为 {silence_id} 的静默规则",
                                  message_en=f"no silence {silence_id}")
    return _public(rows[0])


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in row.items() if k != "deleted"}, "matchers": json.loads(row["matchers"] or "{}")}


def list_active(db: sqlite_utils.Database, now: float, *, include_expired: bool = False) -> list[dict[str, Any]]:
    sql = "select * from alert_silences where deleted = 0" + ("" if include_expired else " and ends_at > ?")
    return [_public(r) for r in db.query(sql + " order by starts_at", [] if include_expired else [now])]


def delete(db: sqlite_utils.Database, silence_id: int) -> None:
    get(db, silence_id)
    db.execute("update alert_silences set deleted = 1 where id = ?", [silence_id])


def silenced(active: Iterable[dict[str, Any]], now: float, tz: ZoneInfo, *, tier: str, categories: Iterable[str],
             brand: str, channel: str, incident_id: int | None) -> dict[str, Any] | None:
    """The first silence that mutes this alert right now, or None."""
    cats = set(categories)
    for s in active:
        if not s["starts_at"] <= now < s["ends_at"]:
            continue
        if s["daily"] and not in_window(now, parse_window(s["daily"], "daily"), tz):
            continue
        m = s["matchers"]
        if m.get("tiers") and tier not in m["tiers"]:
            continue
        if m.get("categories") and not cats & set(m["categories"]):
            continue
        if m.get("brands") and brand not in m["brands"]:
            continue
        if m.get("channels") and channel not in m["channels"]:
            continue
        if "incident_id" in m and m["incident_id"] != incident_id:
            continue
        return s
    return None


def mute_ends(silence: dict[str, Any], now: float, tz: ZoneInfo) -> float:
    """When a silence that mutes now stops muting (its end, or the end of today's daily window)."""
    window = parse_window(silence["daily"], "daily") if silence["daily"] else None
    if window is None:
        return float(silence["ends_at"])
    return min(float(silence["ends_at"]), window_end(now, window, tz))
