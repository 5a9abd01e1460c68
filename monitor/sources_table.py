"""The ``sources`` and ``source_state`` tables (synchronous functions run inside ``store.read/write``).

Sources of ``lantern.toml`` are upserted at start with ``origin = "config"``
(the file is their truth: one removed from the file is removed here);
sources added through the API have ``origin = "api"`` and persist.  The
stored ``config`` JSON holds secrets; it never leaves the monitor package
unredacted.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .source_health import SourceState


def sync_config_sources(db: sqlite_utils.Database, configs: list[dict[str, Any]], now: float) -> None:
    """Upsert the file's sources (keeping their paused flag), drop file sources no longer in the file."""
    names = {c["name"] for c in configs}
    existing = {r["name"]: r for r in db.query("SELECT name, origin, paused, created_at FROM sources")}
    for cfg in configs:
        row = existing.get(cfg["name"])
        db["sources"].upsert({  # type: ignore[union-attr]
            "name": cfg["name"], "kind": cfg["kind"], "config": json.dumps(cfg, ensure_ascii=False),
            "origin": "config", "paused": row["paused"] if row else int(not cfg.get("enabled", True)),
            "created_at": row["created_at"] if row else now, "updated_at": now,
        }, pk="name")
    for name, row in existing.items():
        if row["origin"] == "config" and name not in names:
            delete_source(db, name)


def load_sources(db: sqlite_utils.Database) -> list[tuple[dict[str, Any], bool, str]]:
    """(stored config, paused, origin) of every source, oldest first."""
    return [(json.loads(r["config"]), bool(r["paused"]), r["origin"])
            for r in db.query("SELECT config, paused, origin FROM sources ORDER BY created_at, name")]


def load_source(db: sqlite_utils.Database, name: str) -> tuple[dict[str, Any], bool] | None:
    """(stored config, paused) of one source, or None when there is no such source."""
    row = db.execute("SELECT config, paused FROM sources WHERE name = ?", [name]).fetchone()
    return (json.loads(row[0]), bool(row[1])) if row else None


def source_origin(db: sqlite_utils.Database, name: str) -> str | None:
    """Where a source comes from (``config``: lantern.toml, ``api``: added in the console), None if unknown."""
    row = db.execute("SELECT origin FROM sources WHERE name = ?", [name]).fetchone()
    return str(row[0]) if row else None


def save_source(db: sqlite_utils.Database, cfg: dict[str, Any], *, origin: str, paused: bool, now: float) -> None:
    row = db.execute("SELECT created_at, origin FROM sources WHERE name = ?", [cfg["name"]]).fetchone()
    db["sources"].upsert({  # type: ignore[union-attr]
        "name": cfg["name"], "kind": cfg["kind"], "config": json.dumps(cfg, ensure_ascii=False),
        "origin": row[1] if row else origin, "paused": int(paused),
        "created_at": row[0] if row else now, "updated_at": now,
    }, pk="name")


def delete_source(db: sqlite_utils.Database, name: str) -> None:
    db.execute("DELETE FROM sources WHERE name = ?", [name])
    db.execute("DELETE FROM source_state WHERE name = ?", [name])


def load_states(db: sqlite_utils.Database) -> dict[str, SourceState]:
    return {r["name"]: SourceState.from_row(r) for r in db.query("SELECT * FROM source_state")}


def save_state(db: sqlite_utils.Database, state: SourceState) -> None:
    db["source_state"].upsert(state.to_row(), pk="name")  # type: ignore[union-attr]


def list_mentions(db: sqlite_utils.Database, *, source: str | None = None, incident_id: int | None = None,
                  tier: str | None = None, before_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated by ``before_id``."""
    where: list[str] = ["1=1"]
    params: list[Any] = []
    for column, value in (("source", source), ("incident_id", incident_id), ("tier", tier)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    sql = (f"SELECT id, source, external_id, url, author, author_reach, published_at, fetched_at, title, text, "
           f"duplicate_of, sentiment, negative_probability, categories, tier, reasons, classified_at, incident_id "
           f"FROM mentions WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {int(limit)}")
    rows = []
    for r in db.query(sql, params):
        r["categories"] = json.loads(r["categories"]) if r["categories"] else []
        r["reasons"] = json.loads(r["reasons"]) if r["reasons"] else []
        rows.append(r)
    return rows
