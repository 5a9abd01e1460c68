"""Escalation and reminders: nobody who must act has acknowledged, so tell them again and go up a level.

Runs inside the engine's planning transaction; ``ctx`` is what the rules need of the engine (routes,
timing, silences, the directory), declared here as :class:`Escalating`, so this file holds only the two
rules and does not import the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import sqlite_utils

from monitor.incidents import store_ops

from . import nflog, outbox
from .card import facts
from .messages import snapshot
from .recipients import Directory
from .routing import Recipient, Route


class Escalating(Protocol):
    """What escalation and reminders ask of the alert engine (:class:`monitor.alerting.engine.AlertEngine`)."""

    directory: Directory

    @property
    def escalate_minutes(self) -> Mapping[str, float]: ...

    @property
    def remind_minutes(self) -> Mapping[str, float]: ...

    def matching_routes(self, inc: dict[str, Any]) -> list[Route]: ...

    def muted(self, inc: dict[str, Any], channel: str, now: float) -> float | None: ...

    def quiet_now(self, now: float) -> bool: ...

    def evaluate(self, db: sqlite_utils.Database, st: dict[str, Any], now: float,
                 people: list[dict[str, Any]]) -> int: ...


def escalate(db: sqlite_utils.Database, ctx: Escalating, now: float, people: list[dict[str, Any]]) -> int:
    """Raise the level of open incidents whose must-act recipients let the deadline pass; returns how many."""
    raised = 0
    rows = list(db.query(
        "select s.* from alert_state s join incidents i on i.id = s.incident_id "
        "where s.level_at is not null and i.state = 'open'"))
    for st in rows:
        inc = store_ops.load(db, st["incident_id"])
        minutes = ctx.escalate_minutes.get(inc["tier"])
        if minutes is None or now < st["level_at"] + minutes * 60:
            continue
        must_act = db.execute("select count(*) from alert_nflog where incident_id = ? and must_act = 1",
                              [inc["id"]]).fetchone()[0]
        if not must_act:
            continue
        higher = sorted({r.level for r in ctx.matching_routes(inc) if r.level > st["level"]})
        if not higher:
            continue
        level = higher[0]
        db.table("alert_state").update(inc["id"], {"level": level, "level_at": now, "due_at": now})
        store_ops.event(db, inc["id"], now, "escalated", "auto", level=level, after_minutes=minutes)
        ctx.evaluate(db, {**st, "level": level, "level_at": now}, now, people)
        raised += 1
    return raised


def remind(db: sqlite_utils.Database, ctx: Escalating, now: float) -> int:
    """Re-send to must-act recipients of open incidents every ``remind_minutes``; returns how many."""
    count = 0
    rows = list(db.query(
        "select n.*, i.tier as tier from alert_nflog n join incidents i on i.id = n.incident_id "
        "where n.must_act = 1 and i.state = 'open'"))
    for entry in rows:
        minutes = ctx.remind_minutes.get(entry["tier"])
        if minutes is None or now - entry["last_sent_at"] < minutes * 60:
            continue
        last = list(db.query("select * from alert_deliveries where incident_id = ? and recipient = ? "
                             "and kind != 'digest' order by id desc limit 1", [entry["incident_id"],
                                                                                entry["recipient"]]))
        if not last:
            continue
        inc = store_ops.load(db, entry["incident_id"])
        if ctx.muted(inc, last[0]["channel"], now) is not None or (inc["tier"] != "P1" and ctx.quiet_now(now)):
            continue
        recipient = Recipient(entry["recipient"], last[0]["recipient_label"], last[0]["channel"], True,
                              last[0]["level"], False, "remind")
        named = json.loads(last[0]["payload"] or "{}").get("mention")  # a channel reminds the same people
        outbox.enqueue(db, incident_id=inc["id"], recipient=recipient, kind="remind", tier=inc["tier"],
                       payload={"incident": snapshot(inc, facts(db, inc, ctx.directory.people(db))),
                                "level": recipient.level,
                                **({"mention": named} if named else {})}, now=now, note=last[0]["note"])
        nflog.record(db, inc, entry["recipient"], True, now)
        count += 1
    return count
