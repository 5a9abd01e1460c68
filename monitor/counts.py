"""Counts of monitor's tables for the ``/metrics`` gauges, read at scrape time (true across restarts and nodes).

Each returns None when its table does not exist yet (a web app started without the monitor's migrations).
"""

from __future__ import annotations

import sqlite_utils


def _exists(db: sqlite_utils.Database, table: str) -> bool:
    return db.execute("select 1 from sqlite_master where type = 'table' and name = ?", [table]).fetchone() is not None


def mentions_by_source(db: sqlite_utils.Database) -> list[tuple[str, int]] | None:
    """(source, stored mentions), by source name."""
    if not _exists(db, "mentions"):
        return None
    return [(str(source), int(count)) for source, count in db.execute(
        "select source, count(*) from mentions group by source order by source").fetchall()]


def deliveries_by_channel_status(db: sqlite_utils.Database) -> list[tuple[str, str, int]] | None:
    """(channel, status, alert deliveries), by channel then status."""
    if not _exists(db, "alert_deliveries"):
        return None
    return [(str(channel), str(status), int(count)) for channel, status, count in db.execute(
        "select channel, status, count(*) from alert_deliveries group by 1, 2 order by 1, 2").fetchall()]


def incidents_by_state_tier(db: sqlite_utils.Database) -> list[tuple[str, str, int]] | None:
    """(state, tier, incidents), by state then tier."""
    if not _exists(db, "incidents"):
        return None
    return [(str(state), str(tier), int(count)) for state, tier, count in db.execute(
        "select state, tier, count(*) from incidents group by 1, 2 order by 1, 2").fetchall()]
