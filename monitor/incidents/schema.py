"""Tables of the incidents part (migration set ``incidents``).

``incidents``          one row per story; JSON columns hold lists
``incident_events``    the timeline: opened, retiered, acknowledged, plan started, ...
``incident_checklist`` checklist items attached by contingency plans
Mentions point at their incident through ``mentions.incident_id`` (monitor's table).
"""

from __future__ import annotations

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
