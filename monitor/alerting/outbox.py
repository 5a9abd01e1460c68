"""The persisted outbox: every alert is a row before anything is sent; digests fold rows together."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlite_utils

from . import acklinks
from .routing import Recipient

HIDDEN = ("ack_nonce", "payload")


def enqueue(db: sqlite_utils.Database, *, incident_id: int | None, recipient: Recipient, kind: str, tier: str,
            payload: dict[str, Any], now: float, status: str = "queued", deliver_after: float | None = None,
            note: str | None = None) -> int:
    table = db.table("alert_deliveries")
    table.insert({
        "incident_id": incident_id, "recipient": recipient.key, "recipient_label": recipient.label,
        "channel": recipient.channel, "kind": kind, "tier": tier, "level": recipient.level,
        "must_act": int(recipient.must_act), "status": status, "attempts": 0, "created_at": now,
        "deliver_after": deliver_after, "payload": json.dumps(payload, ensure_ascii=False), "note": note,
        "ack_nonce": acklinks.new_nonce() if recipient.must_act and kind not in ("resolved", "digest") else None})
    return int(table.last_pk)  # type: ignore[arg-type]


def fold(db: sqlite_utils.Database, rows: list[dict[str, Any]], now: float, *, by_recipient: bool) -> int:
    """Replace ``rows`` by one digest delivery per recipient (or per channel); returns digests made."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["recipient"] if by_recipient else f"channel:{row['channel']}", row["channel"])].append(row)
    made = 0
    for (recipient, channel), items in groups.items():
        latest: dict[Any, dict[str, Any]] = {}  # one line per incident: what it was first reported as, now
        mention: dict[str, dict[str, Any]] = {}  # the people the folded alerts named, named once by the digest
        for r in items:
            key = r["incident_id"] if r["incident_id"] is not None else f"row{r['id']}"
            stored = json.loads(r["payload"])
            mention.update((str(m.get("user")), m) for m in stored.get("mention") or [])
            title = stored.get("incident", {}).get("title", "") or r["recipient_label"]
            first = latest.get(key)
            latest[key] = {"id": r["incident_id"], "tier": r["tier"], "kind": first["kind"] if first else r["kind"],
                           "title": title}
        payload: dict[str, Any] = {"items": list(latest.values())}
        if mention:
            payload["mention"] = list(mention.values())
        notes = "; ".join(dict.fromkeys(r["note"] for r in items if r.get("note")))
        tier = min((r["tier"] for r in items), default="P4")
        label = items[0]["recipient_label"] if by_recipient else channel
        digest = Recipient(recipient, label, channel, False, 0, False, "digest")
        digest_id = enqueue(db, incident_id=None, recipient=digest, kind="digest", tier=tier, payload=payload, now=now,
                            note=notes[:1000] or None)
        ids = [r["id"] for r in items]
        db.execute(f"update alert_deliveries set status = 'digested', digest_id = ? where id in "
                   f"({','.join('?' for _ in ids)})", [digest_id, *ids])
        made += 1
    return made


def public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in HIDDEN}
    out["must_act"] = bool(row.get("must_act"))
    return out


def list_deliveries(db: sqlite_utils.Database, *, incident_id: int | None = None, status: str | None = None,
                    recipient: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    where, args = [], []
    for column, value in (("incident_id", incident_id), ("status", status), ("recipient", recipient)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "select * from alert_deliveries" + (" where " + " and ".join(where) if where else "")
    return [public(r) for r in db.query(sql + " order by id desc limit ?", [*args, limit])]
