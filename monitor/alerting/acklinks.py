"""Signed, single-use acknowledge links placed inside each must-act alert.

A link is ``/ack/<delivery id>.<nonce>.<signature>``: the nonce is random and
stored on the delivery row; the signature is HMAC-SHA256 over both with the
installation secret.  A *personal* link, ``/ack/<id>.<nonce>.<person>.<signature>``,
also signs the user name of the person it was made for (base64url): a robot
or e-mail message names several people, and each gets a link that records
*them*, not the group (issue 12).  Without a person the confirm page asks who
is acknowledging (sign in, or pick a name).  A link works once, for ``ack_link_hours``; forging one
needs the secret, replaying one finds it used.  Opening the link (GET) only
:func:`check`s it and shows a confirm button: mail scanners and IM link
previews fetch links, and must not acknowledge anything.  The button POSTs
to the same link, which :func:`redeem`s it.  Tokens never reach logs
(:func:`mask_path`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Any

import sqlite_utils

from .errors import AckLinkError


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def _sig(secret: str, delivery_id: int, nonce: str, person: str = "") -> str:
    who = f".{person}" if person else ""
    return hmac.new(secret.encode(), f"ack:{delivery_id}.{nonce}{who}".encode(), hashlib.sha256).hexdigest()[:32]


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AckLinkError("链接无效 (invalid link)", reason="invalid") from None


def token(secret: str, delivery_id: int, nonce: str, person: str = "") -> str:
    """The link's token; with ``person`` (a user name) a personal link that acknowledges as them."""
    if not person:
        return f"{delivery_id}.{nonce}.{_sig(secret, delivery_id, nonce)}"
    who = _encode(person)
    return f"{delivery_id}.{nonce}.{who}.{_sig(secret, delivery_id, nonce, who)}"


def person_of(value: str) -> str:
    """The user name a personal token was signed for, "" for a group link (call after :func:`check`)."""
    parts = value.split(".")
    return _decode(parts[2]) if len(parts) == 4 else ""


def check(db: sqlite_utils.Database, secret: str, value: str, *, now: float, ttl_s: float) -> dict[str, Any]:
    """The delivery row ``value`` acknowledges, if valid, unused and not expired (nothing is changed)."""
    parts = value.split(".")
    if len(parts) not in (3, 4) or not parts[0].isdigit():
        raise AckLinkError("链接无效 (invalid link)", reason="invalid")
    delivery_id, nonce, sig = int(parts[0]), parts[1], parts[-1]
    who = parts[2] if len(parts) == 4 else ""
    if not hmac.compare_digest(sig, _sig(secret, delivery_id, nonce, who)):
        raise AckLinkError("链接无效 (invalid link)", reason="invalid")
    rows = list(db.query("select * from alert_deliveries where id = ?", [delivery_id]))
    if not rows or not rows[0]["ack_nonce"] or not hmac.compare_digest(rows[0]["ack_nonce"], nonce):
        raise AckLinkError("链接无效 (invalid link)", reason="invalid")
    row = rows[0]
    if row["ack_used_at"]:
        raise AckLinkError("此链接已使用过 (this link was already used)", reason="used")
    if now > row["created_at"] + ttl_s:
        raise AckLinkError("链接已过期 (this link has expired)", reason="expired")
    return row


def redeem(db: sqlite_utils.Database, secret: str, value: str, *, now: float, ttl_s: float,
           actor: str = "") -> dict[str, Any]:
    """Check ``value`` and mark it used (call inside a write), and the delivery acknowledged by ``actor``."""
    row = check(db, secret, value, now=now, ttl_s=ttl_s)
    db.execute("update alert_deliveries set ack_used_at = ? where id = ?", [now, row["id"]])
    if actor:
        db.execute("update alert_deliveries set status = 'acknowledged', acked_at = ?, acked_by = ? "
                   "where id = ? and status = 'sent'", [now, actor, row["id"]])
    return row


_ACK_PATH = re.compile(r"((?:/|%2F)ack(?:/|%2F))[^/?#&\s\"']+", re.IGNORECASE)


def mask_path(path: str) -> str:
    """``/ack/<token>`` -> ``/ack/***`` (also inside a whole request line, and URL-encoded in a login
    ``?next=``), for access logs."""
    return _ACK_PATH.sub(r"\1***", path)
