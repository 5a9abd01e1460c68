"""The facts an alert card shows beside the counters (issue 12), read when the alert is planned.

* a **sample post**: the incident's most far-reaching negative mention (else its latest), trimmed;
* **why this tier**: a manual tier and its reason, else the strongest mention's own reasons when it
  set the tier, else the hour's volume (and a spike);
* **who acknowledged**, with their display name and comment.

Everything here is untrusted text from the web or from people; :func:`inline` makes it safe to put
inside the robots' markdown (no links, emphasis, headings or HTML of its own, one line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from monitor.incidents.model import rank

SAMPLE_CHARS = 120
_MARKUP = str.maketrans({"*": "＊", "_": "＿", "`": "｀", "#": "＃", "[": "［", "]": "］", "<": "＜", ">": "＞",
                         "|": "｜", "~": "～", "\\": "＼", "(": "（", ")": "）", "!": "！"})
_SPACE = re.compile(r"\s+")


def inline(text: str, limit: int | None = None) -> str:
    """One line of plain text that no robot renders as markup; cut to ``limit`` characters with …."""
    flat = _SPACE.sub(" ", str(text or "")).strip().translate(_MARKUP)
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def sample(db: sqlite_utils.Database, incident_id: int) -> dict[str, Any] | None:
    row = db.execute(
        "select author, source, title, text from mentions where incident_id = ? "
        "order by case when sentiment = 'negative' then 0 else 1 end, coalesce(author_reach, 0) desc, "
        "negative_probability desc, id desc limit 1", [incident_id]).fetchone()
    if row is None:
        return None
    author, source, title, text = row
    body = str(text or title or "")
    if title and text and not str(text).startswith(str(title)[:10]):
        body = f"{title}：{text}"
    return {"author": inline(author or "", 40), "source": inline(source or "", 40),
            "text": inline(body, SAMPLE_CHARS)}


def tier_reason(db: sqlite_utils.Database, inc: dict[str, Any]) -> str:
    """Why the incident has its tier, in one short line (zh-CN, as the classifier's reasons are)."""
    if inc.get("tier_manual") and inc["tier_manual"] == inc["tier"]:
        row = db.execute("select detail from incident_events where incident_id = ? and kind = 'retiered' "
                         "and actor != 'auto' order by id desc limit 1", [inc["id"]]).fetchone()
        why = json.loads(row[0] or "{}").get("reason", "") if row else ""
        return inline(f"人工定级{('：' + why) if why else ''}", 80)
    parts = []
    strongest = _strongest(db, inc)
    if strongest is not None and rank(inc.get("mention_tier")) <= rank(inc["tier"]):
        parts.append("单条提及：" + "、".join(str(r) for r in strongest[:5]))
    if inc.get("volume_1h"):
        parts.append(f"近一小时 {inc['volume_1h']} 条")
    if inc.get("spike"):
        parts.append("较平时激增（升一级）")
    return inline("；".join(parts), 160)


def _strongest(db: sqlite_utils.Database, inc: dict[str, Any]) -> Sequence[str] | None:
    """The reasons of the mention whose own tier is the incident's mention tier."""
    if not inc.get("mention_tier"):
        return None
    row = db.execute("select reasons from mentions where incident_id = ? and tier = ? "
                     "order by negative_probability desc, id limit 1", [inc["id"], inc["mention_tier"]]).fetchone()
    return json.loads(row[0] or "[]") if row else None


def label_of(actor: str, people: Sequence[dict[str, Any]]) -> str:
    """``user:wang`` -> their display name (or name); anything else as it is."""
    if not actor:
        return ""
    name = actor.removeprefix("user:")
    for p in people:
        if p["name"] == name:
            return str(p.get("display_name") or name)
    return name


def facts(db: sqlite_utils.Database, inc: dict[str, Any], people: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What :func:`monitor.alerting.messages.snapshot` adds to the counters."""
    top = sample(db, inc["id"])
    out: dict[str, Any] = {"reason": tier_reason(db, inc)}
    if top is not None:
        out["sample"] = top
    if inc.get("acknowledged_by"):
        out["acknowledged_by"] = inline(label_of(str(inc["acknowledged_by"]), people), 40)
        out["ack_comment"] = inline(inc.get("ack_comment") or "", 200)
    return out
