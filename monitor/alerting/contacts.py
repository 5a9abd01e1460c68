"""The contact directory: how to reach a person outside the console, and who a channel message names.

One row per Lantern user (by name) in ``alert_contacts``: an e-mail address, a
mainland mobile number, the person's id on each IM (DingTalk ``userId``, WeCom
``userid``, Feishu ``open_id``) and a preferred order of channel kinds.

When a route selects people and names channels, :func:`plan` decides on
which of those channels each person is named: every channel whose kind they
have a contact for, or, with a preferred order, only the channels of the first
kind in that order they can be reached on.  A person is always reached in the
console as well; channels they have no contact for are reported, never
silently skipped.

Mobile numbers are personal data: :func:`mask_mobile` / :func:`mask_text`
show them as ``138****5678`` wherever they would reach a log or the delivery log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from monitor.channels.base import Mention

from .errors import ContactError
from .routing import Recipient

KINDS = ("dingtalk", "wecom", "feishu", "email")  # channel kinds a person can be reached on
IM_FIELDS = {"dingtalk": "dingtalk_id", "wecom": "wecom_id", "feishu": "feishu_id"}
IM_LABELS = {"dingtalk": ("钉钉 userId", "DingTalk userId"), "wecom": ("企业微信 userid", "WeCom userid")}
FIELDS = ("email", "mobile", "dingtalk_id", "wecom_id", "feishu_id", "prefer")

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_IM_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_OPEN_ID = re.compile(r"ou_[A-Za-z0-9]{16,64}")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


@dataclass(frozen=True)
class Contact:
    user: str
    email: str = ""
    mobile: str = ""
    dingtalk_id: str = ""
    wecom_id: str = ""
    feishu_id: str = ""
    prefer: tuple[str, ...] = ()

    def im_id(self, kind: str) -> str:
        return str(getattr(self, IM_FIELDS[kind])) if kind in IM_FIELDS else ""

    def reachable(self, kind: str) -> bool:
        """Can a channel of ``kind`` name this person?  (Feishu robots cannot @ a mobile number.)"""
        if kind == "email":
            return bool(self.email)
        if kind in ("dingtalk", "wecom"):
            return bool(self.im_id(kind) or self.mobile)
        if kind == "feishu":
            return bool(self.feishu_id)
        return False

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "email": self.email, "mobile": self.mobile, "dingtalk_id": self.dingtalk_id,
                "wecom_id": self.wecom_id, "feishu_id": self.feishu_id, "prefer": list(self.prefer)}

    def shown(self, kind: str) -> str:
        """How the delivery log shows the address used on ``kind`` (mobiles masked)."""
        if kind == "email":
            return self.email
        if self.im_id(kind):
            return f"{kind} id"
        return mask_mobile(self.mobile)


# -- masking -------------------------------------------------------------------------------------------
def mask_mobile(mobile: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    return f"{mobile[:3]}****{mobile[-4:]}" if len(mobile) >= 7 else "****"


def mask_text(text: str) -> str:
    """Every mainland mobile number inside ``text`` masked (for logs and stored errors)."""
    return _MOBILE_IN_TEXT.sub(r"\1****\2", text)


# -- validation ------------------------------------------------------------------------------------------
def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ContactError(field, f"{field} 必须是字符串", f"{field} must be a string")
    return value.strip()


def normalize_mobile(value: str) -> str:
    """A mainland mobile number as 11 digits; spaces, dashes and a +86 / 0086 prefix are accepted."""
    digits = re.sub(r"[\s-]", "", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    if not _MOBILE.fullmatch(digits):
        raise ContactError("mobile", "手机号无效：应为中国大陆手机号（11 位，1 开头，如 13812345678）",
                           "not a valid mainland China mobile number (11 digits starting with 1, "
                           "e.g. 13812345678)")
    return digits


def parse(user: str, body: Mapping[str, Any]) -> Contact:
    """Validate a contact body (every field optional; empty clears it).  Raises :class:`ContactError`."""
    unknown = sorted(set(body) - set(FIELDS) - {"user"})
    if unknown:
        raise ContactError(unknown[0], f"未知字段 {', '.join(unknown)}", f"unknown field(s) {', '.join(unknown)}")
    email = _text(body, "email")
    if email and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise ContactError("email", "电子邮箱地址无效（应如 wang@example.com）",
                           "not a valid e-mail address (e.g. wang@example.com)")
    mobile = _text(body, "mobile")
    mobile = normalize_mobile(mobile) if mobile else ""
    ids = {}
    for kind, field in IM_FIELDS.items():
        value = _text(body, field)
        if kind == "feishu" and value and not _OPEN_ID.fullmatch(value):
            raise ContactError(field, "飞书 open_id 以 ou_ 开头，只含字母和数字",
                               "a Feishu open_id starts with ou_ followed by letters and digits")
        if value and not _IM_ID.fullmatch(value):
            zh, en = IM_LABELS[kind]
            raise ContactError(field, f"{zh} 只能包含字母、数字和 _ . @ -，最长 64 个字符",
                               f"a {en} may contain only letters, digits and _ . @ -, at most 64 characters")
        ids[field] = value
    prefer = body.get("prefer") or []
    if isinstance(prefer, str):
        prefer = [p.strip() for p in prefer.split(",") if p.strip()]
    if not isinstance(prefer, list) or not all(isinstance(p, str) for p in prefer):
        raise ContactError("prefer", "优先渠道必须是渠道类型列表", "prefer must be a list of channel kinds")
    bad = [p for p in prefer if p not in KINDS]
    if bad:
        raise ContactError("prefer", f"优先渠道中有未知类型 {', '.join(bad)}（可选 {'、'.join(KINDS)}）",
                           f"unknown channel kind(s) in prefer: {', '.join(bad)} (choose from {', '.join(KINDS)})")
    if len(set(prefer)) != len(prefer):
        raise ContactError("prefer", "优先渠道中有重复的类型", "a channel kind is listed twice in prefer")
    return Contact(user=user, email=email, mobile=mobile, prefer=tuple(prefer), **ids)


# -- storage -------------------------------------------------------------------------------------------
def _row_contact(row: Mapping[str, Any]) -> Contact:
    return Contact(user=str(row["user_name"]), email=row["email"] or "", mobile=row["mobile"] or "",
                   dingtalk_id=row["dingtalk_id"] or "", wecom_id=row["wecom_id"] or "",
                   feishu_id=row["feishu_id"] or "", prefer=tuple(json.loads(row["prefer"] or "[]")))


def get(db: sqlite_utils.Database, user: str) -> Contact:
    rows = list(db.query("select * from alert_contacts where user_name = ?", [user]))
    return _row_contact(rows[0]) if rows else Contact(user)


def load_all(db: sqlite_utils.Database) -> dict[str, Contact]:
    return {str(row["user_name"]): _row_contact(row) for row in db.query("select * from alert_contacts")}


def save(db: sqlite_utils.Database, contact: Contact, *, actor: str, now: float) -> Contact:
    """Store ``contact`` (call inside a write); a contact with nothing in it is removed."""
    values = contact.as_dict()
    if not any(values[f] for f in FIELDS):
        db.execute("delete from alert_contacts where user_name = ?", [contact.user])
        return contact
    row = {k: v for k, v in values.items() if k != "user"}
    db.table("alert_contacts").upsert({"user_name": contact.user, **row, "prefer": json.dumps(values["prefer"]),
                                       "updated_at": now, "updated_by": actor}, pk="user_name")
    return contact


# -- reaching people on a route's channels ---------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Who each channel recipient names, who had no contact for which channel, and the notes to log."""

    mention: dict[str, tuple[str, ...]]  # channel name -> user names to @ / to mail
    missing: dict[str, tuple[str, ...]]  # user name -> routed channel names without a usable contact
    kinds: Mapping[str, str]
    contacts: Mapping[str, Contact]
    labels: Mapping[str, str]

    def payload(self, recipient: Recipient) -> dict[str, Any]:
        """What the delivery's payload keeps: names and labels only (contacts are read at send time)."""
        if not recipient.key.startswith("channel:"):
            return {}
        names = self.mention.get(recipient.channel, ())
        return {"mention": [{"user": n, "label": self.labels.get(n, n)} for n in names]} if names else {}

    def note(self, recipient: Recipient) -> str | None:
        """The delivery log's line: for a channel, whom it names (mobiles masked) and whom it could not;
        for a person, the routed channels they had no contact for (they are reached in the console)."""
        if recipient.key.startswith("user:"):
            channels = self.missing.get(recipient.key[5:], ())
            return f"无联系方式的渠道 (no contact for): {', '.join(channels)}" if channels else None
        kind = self.kinds.get(recipient.channel, "")
        parts = []
        named = [f"{self.labels.get(n, n)} <{(self.contacts.get(n) or Contact(n)).shown(kind)}>"
                 for n in self.mention.get(recipient.channel, ())]
        if named:
            parts.append(("收件人 (mailed to)" if kind == "email" else "已@ (mentioned)") + ": " + ", ".join(named))
        lacking = [f"{self.labels.get(n, n)} ({n})" for n in recipient.mention
                   if recipient.channel in self.missing.get(n, ())]
        if lacking:
            parts.append("无联系方式 (no contact): " + ", ".join(lacking))
        return "; ".join(parts) or None


def plan(found: Iterable[Recipient], kinds: Mapping[str, str], contacts: Mapping[str, Contact],
         people: Iterable[Mapping[str, Any]]) -> Plan:
    """Decide on which routed channels each selected person is named.

    Every channel whose kind they have a contact for; with a preferred order,
    only the channels of the first kind in that order they can be reached on
    (so one alert does not @ the same person in three groups).
    """
    routed: dict[str, list[str]] = {}  # person -> channels whose routes selected them
    channels = []
    for r in found:
        if r.key.startswith("channel:") and kinds.get(r.channel) in KINDS:
            channels.append(r.channel)
            for name in r.mention:
                routed.setdefault(name, []).append(r.channel)
    mention: dict[str, list[str]] = {c: [] for c in channels}
    missing: dict[str, tuple[str, ...]] = {}
    for name, theirs in routed.items():
        contact = contacts.get(name) or Contact(name)
        usable = [c for c in theirs if contact.reachable(kinds[c])]
        lacking = tuple(c for c in theirs if not contact.reachable(kinds[c]))
        if lacking:
            missing[name] = lacking
        chosen = usable
        for kind in contact.prefer:
            preferred = [c for c in usable if kinds[c] == kind]
            if preferred:
                chosen = preferred
                break
        for channel in chosen:
            mention[channel].append(name)
    labels = {str(p["name"]): str(p.get("display_name") or p["name"]) for p in people}
    return Plan({c: tuple(n) for c, n in mention.items() if n}, missing, kinds, contacts, labels)


def mentions(kind: str, items: Iterable[Mapping[str, Any]], contacts: Mapping[str, Contact]) -> tuple[Mention, ...]:
    """At send time: the stored names turned into what a channel of ``kind`` needs (current contacts).

    A mobile number is handed over only where the person has no id on that IM.
    """
    found = []
    for item in items:
        contact = contacts.get(str(item.get("user")))
        if contact is None or not contact.reachable(kind):
            continue
        user_id = contact.im_id(kind)
        found.append(Mention(label=str(item.get("label") or contact.user), user_id=user_id,
                             mobile=contact.mobile if kind in ("dingtalk", "wecom") and not user_id else "",
                             email=contact.email if kind == "email" else ""))
    return tuple(found)
