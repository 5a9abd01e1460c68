"""Routes and plans an admin saved in the console (the ``alert_config`` table, :mod:`.schema`).

They win over lantern.toml at start.  Each is stored as the JSON list of tables the API accepted, with who
saved it and when.  Synchronous functions, run inside ``store.read`` / ``store.write``.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils


def load(db: sqlite_utils.Database, name: str) -> list[dict[str, Any]] | None:
    """The saved ``name`` list (``routes`` or ``plans``), or None when nothing was saved."""
    row = db.execute("select value from alert_config where name = ?", [name]).fetchone()
    return json.loads(row[0]) if row else None


def load_with_author(db: sqlite_utils.Database, name: str) -> tuple[list[dict[str, Any]], str] | None:
    """(the saved ``name`` list, who saved it), or None when nothing was saved."""
    row = db.execute("select value, updated_by from alert_config where name = ?", [name]).fetchone()
    return (json.loads(row[0]), str(row[1] or "")) if row else None


def save(db: sqlite_utils.Database, name: str, value: list[dict[str, Any]], actor: str, now: float) -> None:
    """Replace the saved ``name`` list."""
    db.table("alert_config").upsert({"name": name, "value": json.dumps(value, ensure_ascii=False),
                                     "updated_at": now, "updated_by": actor}, pk="name")
