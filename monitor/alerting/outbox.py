"""The persisted outbox: every alert is a row before anything is sent; digests fold rows together."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlite_utils

from . import acklinks
from .routing import Recipient

HIDDEN = ("ack_nonce", "payload")
NO_ACK_LINK = ("resolved", "digest", "acknowledged")  # kinds that ask nobody to act


def enqueue(db: sqlite_utils.Database, *, incident_id: int | None, recipient: Recipient, kind: str, tier: str,
            payload: dict[str, Any], now: float, status: str = "queued", deliver_after: float | None = None,
            note: str | None = None) -> int:
    table = db.table("alert_deliveries")
    table.insert({
        "incident_id": incident_id, "recipient": recipient.key, "recipient_label": recipient.label,
        "channel": recipient.channel, "kind": kind, "tier": tier, "level": recipient.level,
        "must_act": int(recipient.must_act and kind not in NO_ACK_LINK), "status": status, "attempts": 0,
        "created_at": now,
        "deliver_after": deliver_after, "payload": json.dumps(payload, ensure_ascii=False), "note": note,
        "ack_nonce": acklinks.new_nonce() if recipient.must_act and kind not in NO_ACK_LINK else None})
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


def inbox(db: sqlite_utils.Database, user: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The alerts that reached ``user``: to them in person, or naming them on a channel; newest first.

    One item per incident (its latest delivery and how many there were) and one per health alert.
    """
    rows = db.query(
        "select d.*, i.title as incident_title, i.tier as incident_tier, i.state as incident_state, "
        "i.acknowledged_by, i.ack_comment from alert_deliveries d left join incidents i on i.id = d.incident_id "
        "where d.status not in ('digested', 'cancelled') and (d.recipient = ? or exists (select 1 from "
        "json_each(coalesce(json_extract(d.payload, '$.mention'), '[]')) m where json_extract(m.value, '$.user') = ?)) "
        "order by d.id desc limit 2000", [f"user:{user}", user])
    items: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = row["incident_id"] if row["incident_id"] is not None else f"d{row['id']}"
        if key in items:
            items[key]["count"] += 1
            continue
        if len(items) >= limit:
            continue
        payload = json.loads(row["payload"] or "{}")
        items[key] = {
            "incident_id": row["incident_id"], "title": row["incident_title"] or payload.get("source") or "",
            "tier": row["incident_tier"] or row["tier"], "state": row["incident_state"],
            "acknowledged_by": row["acknowledged_by"], "ack_comment": row["ack_comment"],
            "kind": row["kind"], "channel": row["channel"], "status": row["status"], "must_act": bool(row["must_act"]),
            "at": row["sent_at"] or row["created_at"], "problem": payload.get("message") if row["kind"] == "health"
            else None, "count": 1}
    return list(items.values())
