"""The tables ``broadcast`` owns, as a ``sqlite_utils`` migration set.

Times are REAL epoch seconds (UTC).  Versions are never updated in place
except for their state and state times; the audit log is append-only and
hash-chained (each entry's hash covers the previous one).
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("broadcast")


@migrations()
def m001_scripts(db: sqlite_utils.Database) -> None:
    db["broadcast_scripts"].create(  # type: ignore[union-attr]
        {"id": int, "created_at": float, "author_id": int, "author_name": str, "current_version": int,
         "live_version": int},
        pk="id",
    )
    db["broadcast_versions"].create(  # type: ignore[union-attr]
        {"id": int, "script_id": int, "version": int, "title": str, "body": str, "priority": str,
         "audience": str, "incident_id": int, "expires_at": float, "state": str, "author_id": int,
         "author_name": str, "author_team": str, "content_hash": str, "created_at": float,
         "submitted_at": float, "approved_at": float, "published_at": float, "ended_at": float},
        pk="id",
        foreign_keys=[("script_id", "broadcast_scripts", "id")],
        not_null={"script_id", "version", "title", "body", "priority", "state"},
    )
    db["broadcast_versions"].create_index(["script_id", "version"], unique=True)  # type: ignore[union-attr]
    db["broadcast_versions"].create_index(["state", "expires_at"])  # type: ignore[union-attr]
    db["broadcast_approvals"].create(  # type: ignore[union-attr]
        {"id": int, "script_id": int, "version": int, "approver_id": int, "approver_name": str,
         "approver_role": str, "approver_team": str, "decision": str, "comment": str, "at": float},
        pk="id",
        foreign_keys=[("script_id", "broadcast_scripts", "id")],
    )
    db["broadcast_approvals"].create_index(["script_id", "version"])  # type: ignore[union-attr]
    db["broadcast_audit"].create(  # type: ignore[union-attr]
        {"id": int, "script_id": int, "version": int, "action": str, "actor": str, "actor_id": int,
         "at": float, "state": str, "content_hash": str, "detail": str, "prev_hash": str, "entry_hash": str},
        pk="id",
    )
    db["broadcast_audit"].create_index(["script_id"])  # type: ignore[union-attr]
    db["broadcast_receipts"].create(  # type: ignore[union-attr]
        {"script_id": int, "version": int, "user_id": int, "team": str, "displayed_at": float,
         "acked_at": float},
        pk=("script_id", "version", "user_id"),
    )



@migrations()
def m002_copies_and_review(db: sqlite_utils.Database) -> None:
    """Copy-to-reply usage per agent and version; a version's "review by" time (the author's, and the
    effective one fixed at publish from the priority's default)."""
    receipts = db["broadcast_receipts"]
    receipts.add_column("copies", int, not_null_default=0)  # type: ignore[union-attr]
    receipts.add_column("first_copied_at", float)  # type: ignore[union-attr]
    receipts.add_column("last_copied_at", float)  # type: ignore[union-attr]
    versions = db["broadcast_versions"]
    versions.add_column("review_by", float)  # type: ignore[union-attr]
    versions.add_column("review_due", float)  # type: ignore[union-attr]


MIGRATIONS = (migrations,)
