"""Source-health alerts (a source stopped working or recovered, the holiday calendar ran out) into the outbox.

They go to on-call through the same outbox as incident alerts, at P2 and
never must-act; the notification log keys them by source and problem so the
same problem is told again only after ``repeat_interval`` (or, with
``once``, never again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlite_utils

from . import outbox
from .recipients import Directory, health_recipients
from .routing import Route


def enqueue(db: sqlite_utils.Database, *, directory: Directory, routes: Sequence[Route], source: str, problem: str,
            message: str, now: float, repeat_interval: float, once: bool = False) -> bool:
    """Queue a health alert unless told recently; True if anyone was queued one."""
    key = f"health:{source}:{problem}"
    last = db.execute("select last_sent_at from alert_nflog where key = ?", [key]).fetchone()
    if last and (once or now - last[0] < repeat_interval):
        return False
    people = directory.load(db)
    found = health_recipients(routes, people)
    reach = directory.reach(found, people)
    for r in found:
        outbox.enqueue(db, incident_id=None, recipient=dataclasses.replace(r, must_act=False, level=0, digest=False),
                       kind="health", tier="P2", payload={"source": source, "problem": problem, "message": message,
                                                          **reach.payload(r)},
                       now=now, note=reach.note(r))
    db.table("alert_nflog").upsert({"key": key, "recipient": "health", "must_act": 0, "last_sent_at": now,
                                    "last_tier": "P2", "last_state": problem}, pk="key")
    return bool(found)
