"""The notification log: what each recipient last heard about an incident, and whether to tell them again.

Alertmanager's dedupe stage in one function: first news, a higher tier,
resolution, an acknowledgement (at once, naming who), changes after
``group_interval``, repeats after ``repeat_interval`` (only while nobody has
acknowledged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from monitor.incidents.model import rank


@dataclass(frozen=True)
class Timing:
    group_wait: float = 30
    group_interval: float = 300
    repeat_interval: float = 4 * 3600
    # Per-tier group wait overriding ``group_wait``: a new P1 is told at once (issue 12).
    group_wait_tiers: dict[str, float] = field(default_factory=lambda: {"P1": 0.0})

    def wait_for(self, tier: str) -> float:
        """How long a new incident of ``tier`` collects mentions before its first alert."""
        return self.group_wait_tiers.get(tier, self.group_wait)


def key(incident_id: int, recipient: str) -> str:
    return f"{incident_id}|{recipient}"


def get(db: sqlite_utils.Database, incident_id: int, recipient: str) -> dict[str, Any] | None:
    rows = list(db.query("select * from alert_nflog where key = ?", [key(incident_id, recipient)]))
    return rows[0] if rows else None


def decide(entry: dict[str, Any] | None, incident: dict[str, Any], *, level: int, now: float,
           timing: Timing) -> str | None:
    """The kind of notification due for this recipient now, or None."""
    state, tier = incident["state"], incident["tier"]
    if entry is None:
        if state == "resolved":
            return None
        return "escalate" if level > 0 else "open"
    if state == "resolved":
        return "resolved" if entry["last_state"] != "resolved" else None
    if rank(tier) < rank(entry["last_tier"]):
        return "retier"
    if state == "acknowledged" and entry["last_state"] == "open":
        return "acknowledged"  # at once: everyone told sees who owns it (and stops working it twice)
    since = now - (entry["last_sent_at"] or 0)
    changed = incident["mention_count"] != entry["last_count"] or state != entry["last_state"]
    if changed and since >= timing.group_interval:
        return "update"
    if since >= timing.repeat_interval and state == "open":  # nobody has taken it: say it again
        return "repeat"
    return None


def record(db: sqlite_utils.Database, incident: dict[str, Any], recipient: str, must_act: bool, now: float) -> None:
    db.table("alert_nflog").upsert({
        "key": key(incident["id"], recipient), "incident_id": incident["id"], "recipient": recipient,
        "must_act": int(must_act), "last_sent_at": now, "last_tier": incident["tier"],
        "last_count": incident["mention_count"], "last_state": incident["state"]}, pk="key")
