"""Database side of scripts: rows in, dicts out.  Every function runs inside a Store read/write.

The lifecycle rules come from :mod:`broadcast.lifecycle`; this module only
loads rows, applies the state the machine returned and appends audit entries.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlite_utils

from .errors import ScriptNotFound, StaleVersion
from .lifecycle import Action, Approver, State, transition
from .model import Audience, Draft

_GENESIS = "0" * 64
_TIME_COLUMN = {State.IN_REVIEW: "submitted_at", State.APPROVED: "approved_at", State.PUBLISHED: "published_at",
                State.RETRACTED: "ended_at", State.EXPIRED: "ended_at", State.SUPERSEDED: "ended_at"}


def actor_name(actor: Approver) -> str:
    return actor.name


def load_version(db: sqlite_utils.Database, script_id: int, version: int | None = None) -> dict[str, Any]:
    """One version row (the current one when ``version`` is None)."""
    if version is None:
        rows = list(db.query("select v.* from broadcast_versions v join broadcast_scripts s on s.id = v.script_id "
                             "and v.version = s.current_version where s.id = ?", [script_id]))
    else:
        rows = list(db.query("select * from broadcast_versions where script_id = ? and version = ?",
                             [script_id, version]))
    if not rows:
        what = f"script {script_id}" + (f" version {version}" if version is not None else "")
        raise ScriptNotFound(f"{what} does not exist", f"话术 {script_id}" +
                             (f" 版本 {version}" if version is not None else "") + " 不存在")
    return rows[0]


def load_script(db: sqlite_utils.Database, script_id: int) -> dict[str, Any]:
    rows = list(db.query("select * from broadcast_scripts where id = ?", [script_id]))
    if not rows:
        raise ScriptNotFound(f"script {script_id} does not exist", f"话术 {script_id} 不存在")
    return rows[0]


def require_current(row: dict[str, Any], script: dict[str, Any], version: int | None) -> None:
    if version is not None and version != script["current_version"]:
        raise StaleVersion(
            f"version {version} is not the current version ({script['current_version']}); reload and retry",
            f"版本 {version} 不是当前版本（{script['current_version']}），请刷新后重试")


def audit(db: sqlite_utils.Database, script_id: int, version: int, action: str, actor: Approver, at: float,
          state: str, content_hash: str, **detail: Any) -> None:
    """Append a hash-chained audit entry."""
    prev = db.execute("select entry_hash from broadcast_audit order by id desc limit 1").fetchone()
    prev_hash = prev[0] if prev else _GENESIS
    entry = {"script_id": script_id, "version": version, "action": action, "actor": actor.name,
             "actor_id": actor.id, "at": at, "state": state, "content_hash": content_hash,
             "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)}
    entry_hash = chain_hash(prev_hash, entry)
    db.table("broadcast_audit").insert({**entry, "prev_hash": prev_hash, "entry_hash": entry_hash})


def chain_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps({k: entry[k] for k in sorted(entry)}, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def move(db: sqlite_utils.Database, row: dict[str, Any], action: Action, actor: Approver, at: float,
         **detail: Any) -> dict[str, Any]:
    """Apply ``action`` to a version row through the state machine, record it, return the new row."""
    new_state = transition(State(row["state"]), action)
    updates: dict[str, Any] = {"state": new_state.value}
    column = _TIME_COLUMN.get(new_state)
    if column:
        updates[column] = at
    db.table("broadcast_versions").update(row["id"], updates)
    audit(db, row["script_id"], row["version"], action.value, actor, at, new_state.value, row["content_hash"],
          **detail)
    if new_state is State.PUBLISHED:
        db.execute("update broadcast_scripts set live_version = ? where id = ?", [row["version"], row["script_id"]])
    elif row["state"] == State.PUBLISHED.value:
        db.execute("update broadcast_scripts set live_version = null where id = ? and live_version = ?",
                   [row["script_id"], row["version"]])
    return {**row, **updates}


def insert_version(db: sqlite_utils.Database, script_id: int, version: int, draft: Draft, author: Approver,
                   at: float) -> dict[str, Any]:
    row: dict[str, Any] = {"script_id": script_id, "version": version, "title": draft.title, "body": draft.body,
           "priority": draft.priority, "audience": json.dumps(draft.audience.as_dict(), ensure_ascii=False),
           "incident_id": draft.incident_id, "expires_at": draft.expires_at, "review_by": draft.review_by,
           "state": State.DRAFT.value,
           "author_id": author.id, "author_name": author.name, "author_team": author.team,
           "content_hash": draft.content_hash(), "created_at": at}
    table = db.table("broadcast_versions")
    table.insert(row)
    db.execute("update broadcast_scripts set current_version = ? where id = ?", [version, script_id])
    audit(db, script_id, version, "create", author, at, State.DRAFT.value, row["content_hash"])
    return load_version(db, script_id, version)


def approvals(db: sqlite_utils.Database, script_id: int, version: int) -> list[dict[str, Any]]:
    return list(db.query("select * from broadcast_approvals where script_id = ? and version = ? order by id",
                         [script_id, version]))


def approvers(db: sqlite_utils.Database, script_id: int, version: int) -> list[Approver]:
    return [Approver(r["approver_id"], r["approver_name"], r["approver_role"], r["approver_team"] or "")
            for r in approvals(db, script_id, version) if r["decision"] == "approve"]


def authors(db: sqlite_utils.Database, script_id: int, version: int) -> list[Approver]:
    """The people who count as a version's authors for the four-eyes rule: whoever created it (a person's
    edit creates a new version) and everyone who submitted it, in order; a plan (no person) is left out."""
    rows = db.query("select actor_id, actor, min(id) as first from broadcast_audit where script_id = ? and "
                    "version = ? and action in ('create', 'submit') and actor_id is not null "
                    "group by actor_id order by first", [script_id, version])
    return [Approver(int(r["actor_id"]), str(r["actor"]), "") for r in rows]


def audience_of(row: dict[str, Any]) -> Audience:
    return Audience.parse(json.loads(row["audience"] or "null"))


def review_by(row: dict[str, Any]) -> float | None:
    """When agents should treat the version as possibly stale: fixed at publish (the author's time, else the
    priority's default); before that, the author's time if any."""
    due = row.get("review_due")
    return float(due) if due is not None else row.get("review_by")


def item(row: dict[str, Any]) -> dict[str, Any]:
    """A version as a ticker item (the websocket/protocol shape)."""
    return {"id": row["script_id"], "version": row["version"], "title": row["title"], "body": row["body"],
            "priority": row["priority"], "incident_id": row["incident_id"], "published_at": row["published_at"],
            "expires_at": row["expires_at"], "state": row["state"], "content_hash": row["content_hash"],
            "audience": json.loads(row["audience"] or "null") or {"everyone": True}, "review_by": review_by(row)}


def version_view(row: dict[str, Any], db: sqlite_utils.Database) -> dict[str, Any]:
    return {**item(row), "author": row["author_name"], "author_id": row["author_id"],
            "created_at": row["created_at"], "submitted_at": row["submitted_at"], "approved_at": row["approved_at"],
            "ended_at": row["ended_at"],
            "review_by_default": row.get("review_by") is None and row.get("review_due") is not None,
            "approvals": [{k: a[k] for k in ("approver_id", "approver_name", "approver_team", "decision", "comment",
                                             "at")}
                          for a in approvals(db, row["script_id"], row["version"])]}


def active_rows(db: sqlite_utils.Database, now: float) -> list[dict[str, Any]]:
    return list(db.query("select * from broadcast_versions where state = 'published' and "
                         "(expires_at is null or expires_at > ?) order by published_at", [now]))


def item_keys() -> tuple[str, ...]:
    return ("id", "version", "title", "body", "priority", "incident_id", "published_at", "expires_at", "state",
            "content_hash", "audience", "review_by")
