"""Tables of the incidents part (migration set ``incidents``).

``incidents``          one row per story; JSON columns hold lists
``incident_events``    the timeline: opened, retiered, acknowledged, plan started, ...
``incident_checklist`` checklist items attached by contingency plans
``incident_stories``   each incident's story profile for grouping (words and their support, hashtags; JSON)
``incident_tier_history`` every tier an incident had: when, who (``auto`` or ``user:NAME``), why
``incidents.tier_why`` (JSON) explains the current tier: each signal and its points (see ``tiering.explain``)
Mentions point at their incident through ``mentions.incident_id`` (monitor's table): one incident per
mention, so a mention is attached at most once, and ``incidents.mention_count`` / ``negative_count`` are
recounted from those rows whenever mentions join (issue #11).
"""

from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("incidents")


@migrations()
def m001_incidents(db: sqlite_utils.Database) -> None:
    db["incidents"].create(  # type: ignore[union-attr]
        {"id": int, "title": str, "state": str, "tier": str, "tier_auto": str, "tier_manual": str,
         "categories": str, "brand": str, "sources": str, "terms": str,
         "opened_at": float, "updated_at": float, "last_mention_at": float,
         "acknowledged_at": float, "acknowledged_by": str, "mitigating_at": float,
         "resolved_at": float, "resolved_by": str,
         "mention_count": int, "negative_count": int, "max_negative": float, "max_reach": int,
         "volume_1h": int, "spike": int, "mention_tier": str, "plans": str, "script_ids": str, "reasons": str},
        pk="id", not_null={"state", "tier"},
        defaults={"mention_count": 0, "negative_count": 0, "spike": 0, "plans": "[]", "script_ids": "[]",
                  "categories": "[]", "sources": "[]", "terms": "[]", "reasons": "[]", "brand": ""},
    )
    db["incidents"].create_index(["state", "last_mention_at"])  # type: ignore[union-attr]
    db["incident_events"].create(  # type: ignore[union-attr]
        {"id": int, "incident_id": int, "at": float, "kind": str, "actor": str, "detail": str},
        pk="id", foreign_keys=[("incident_id", "incidents", "id")],
    )
    db["incident_events"].create_index(["incident_id", "at"])  # type: ignore[union-attr]
    db["incident_checklist"].create(  # type: ignore[union-attr]
        {"id": int, "incident_id": int, "plan": str, "position": int, "item": str, "done": int,
         "done_by": str, "done_at": float},
        pk="id", foreign_keys=[("incident_id", "incidents", "id")], defaults={"done": 0},
    )
    db["incident_checklist"].create_index(["incident_id"])  # type: ignore[union-attr]


@migrations()
def m002_tier_history(db: sqlite_utils.Database) -> None:
    db["incidents"].add_column("tier_why", str)  # type: ignore[union-attr]
    db["incident_tier_history"].create(  # type: ignore[union-attr]
        {"id": int, "incident_id": int, "at": float, "tier": str, "previous": str, "actor": str, "reason": str,
         "why": str},
        pk="id", foreign_keys=[("incident_id", "incidents", "id")],
    )
    db["incident_tier_history"].create_index(["incident_id", "at"])  # type: ignore[union-attr]
    # Incidents from before this table: their history from the event log (without the signals).
    rows = db.execute("select incident_id, at, kind, actor, detail from incident_events "
                      "where kind in ('opened', 'retiered') order by id").fetchall()
    for incident_id, at, _kind, actor, detail in rows:
        info = json.loads(detail or "{}")
        db["incident_tier_history"].insert({  # type: ignore[union-attr]
            "incident_id": incident_id, "at": at, "tier": info.get("tier"), "previous": info.get("previous"),
            "actor": actor or "auto", "reason": info.get("reason") or "",
            "why": None})


@migrations()
def m003_counts_from_mentions(db: sqlite_utils.Database) -> None:
    # Older versions added 1 per attach, so a mention attached twice in one batch, or announced again after a
    # crash, was counted twice (issue #11): the counts become the attached mentions.
    from .store_ops import RECOUNT

    db.execute(f"update incidents set {RECOUNT}")


@migrations()
def m004_ack_comment(db: sqlite_utils.Database) -> None:
    """What the person who acknowledged wrote for everyone (who owns it, what happens next), issue 12."""
    db["incidents"].add_column("ack_comment", str)  # type: ignore[union-attr]


@migrations()
def m005_stories(db: sqlite_utils.Database) -> None:
    db["incident_stories"].create(  # type: ignore[union-attr]
        {"incident_id": int, "profile": str, "updated_at": float},
        pk="incident_id", foreign_keys=[("incident_id", "incidents", "id")],
    )
