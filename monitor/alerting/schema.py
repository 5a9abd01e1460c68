"""Tables of the alerting part (migration set ``alerting``).

``alert_deliveries``  the outbox and delivery log: one row per (alert, recipient) with its status
                      queued | sending | sent | failed | acknowledged | digest | digested | cancelled
``alert_nflog``       the notification log used to dedupe: what each recipient last heard
``alert_state``       per incident: next evaluation time, escalation level and when it started
``alert_silences``    silences and maintenance windows
``alert_config``      routes / plans changed by an admin through the API (override lantern.toml)
``alert_contacts``    per user: e-mail, mobile, DingTalk / WeCom / Feishu ids, preferred channel kinds
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("alerting")


@migrations()
def m001_alerting(db: sqlite_utils.Database) -> None:
    db["alert_deliveries"].create(  # type: ignore[union-attr]
        {"id": int, "incident_id": int, "recipient": str, "recipient_label": str, "channel": str, "kind": str,
         "tier": str, "level": int, "must_act": int, "status": str, "attempts": int, "next_attempt_at": float,
         "last_error": str, "created_at": float, "sent_at": float, "acked_at": float, "acked_by": str,
         "digest_id": int, "deliver_after": float, "payload": str, "ack_nonce": str, "ack_used_at": float},
        pk="id", defaults={"attempts": 0, "must_act": 0, "level": 0},
    )
    db["alert_deliveries"].create_index(["status", "channel"])  # type: ignore[union-attr]
    db["alert_deliveries"].create_index(["incident_id"])  # type: ignore[union-attr]
    db["alert_nflog"].create(  # type: ignore[union-attr]
        {"key": str, "incident_id": int, "recipient": str, "must_act": int, "last_sent_at": float,
         "last_tier": str, "last_count": int, "last_state": str},
        pk="key",
    )
    db["alert_nflog"].create_index(["incident_id"])  # type: ignore[union-attr]
    db["alert_state"].create(  # type: ignore[union-attr]
        {"incident_id": int, "due_at": float, "level": int, "level_at": float, "first_sent_at": float},
        pk="incident_id", defaults={"level": 0},
    )
    db["alert_state"].create_index(["due_at"])  # type: ignore[union-attr]
    db["alert_silences"].create(  # type: ignore[union-attr]
        {"id": int, "kind": str, "starts_at": float, "ends_at": float, "daily": str, "matchers": str,
         "comment": str, "created_by": str, "created_at": float, "deleted": int},
        pk="id", defaults={"deleted": 0, "daily": ""},
    )
    db["alert_config"].create(  # type: ignore[union-attr]
        {"name": str, "value": str, "updated_at": float, "updated_by": str}, pk="name",
    )


@migrations()
def m002_contacts(db: sqlite_utils.Database) -> None:
    """The contact directory, and a note on each delivery (who a channel message named, who it could not)."""
    db["alert_contacts"].create(  # type: ignore[union-attr]
        {"user_name": str, "email": str, "mobile": str, "dingtalk_id": str, "wecom_id": str, "feishu_id": str,
         "prefer": str, "updated_at": float, "updated_by": str},
        pk="user_name",
    )
    db["alert_deliveries"].add_column("note", str)  # type: ignore[union-attr]
