"""What an alert says: a snapshot of the incident stored with the delivery, rendered at send time.

Text is zh-CN by default; ``lang="en"`` (from ``server.language``) renders English.  A card
says what happened in words a manager reads at a glance (issue 12): the risk categories by name,
a sample post, why the incident has its tier, its volume, and who acknowledged it with their
comment.  Headlines and posts are untrusted: they pass :func:`card.inline` first.
"""

from __future__ import annotations

from typing import Any

from classifiers import CATEGORIES
from monitor.channels.base import Mention, Message

from .card import inline

CATEGORY_EN = {"food_safety": "food safety", "product_defect": "product quality", "personal_safety": "personal safety",
               "privacy": "privacy leak", "fraud_pricing": "fraud / false advertising / pricing",
               "service": "service attitude", "media_exposure": "regulator / media exposure", "legal": "legal dispute"}

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "state.open": "未处理", "state.acknowledged": "已确认", "state.mitigating": "处置中",
        "state.resolved": "已解决",
        "kind.open": "新事件", "kind.update": "事件更新", "kind.retier": "级别升高",
        "kind.escalate": "升级通知·无人确认",
        "kind.remind": "提醒·待确认", "kind.repeat": "仍未解决", "kind.resolved": "已解决", "kind.digest": "舆情摘要",
        "kind.health": "数据源异常", "kind.acknowledged": "已有人确认",
        "tier.P1": "一级（重大）", "tier.P2": "二级（较大）", "tier.P3": "三级（一般）", "tier.P4": "四级（关注）",
        "title": "【{prefix}·{tier}】事件 #{id}：{title}", "digest.title": "【{prefix}】{n} 条待阅",
        "digest.more": "……另有 {n} 条", "health.title": "【{prefix}】{source}",
        "health.text": "- **数据源**：{source}\n- **问题**：{problem}\n- **详情**：{message}",
        "tier": "- **级别**：{tier} {label}", "state": "- **状态**：{state}",
        "volume": "- **提及**：{count} 条（近一小时 {hour} 条），负面占比 {share:.0%}",
        "sources": "- **主要来源**：{v}", "categories": "- **风险类别**：{v}", "plans": "- **已启动预案**：{v}",
        "reason": "- **定级依据**：{v}", "sample": "> **样例**（{who}）：{text}",
        "acked": "- **确认人**：{who}{comment}", "comment": "，备注：{v}",
        "must_act": "\n> 需要您确认处理；未确认将按时提醒并逐级升级。", "sep": "、",
    },
    "en": {
        "state.open": "open", "state.acknowledged": "acknowledged", "state.mitigating": "mitigating",
        "state.resolved": "resolved",
        "kind.open": "New incident", "kind.update": "Update", "kind.retier": "Tier raised",
        "kind.escalate": "Escalation: not acknowledged", "kind.remind": "Reminder: acknowledge",
        "kind.repeat": "Still open", "kind.resolved": "Resolved", "kind.digest": "Digest",
        "kind.health": "Source problem", "kind.acknowledged": "Acknowledged",
        "tier.P1": "critical", "tier.P2": "major", "tier.P3": "minor", "tier.P4": "watch",
        "title": "[{prefix} · {tier}] Incident #{id}: {title}", "digest.title": "[{prefix}] {n} items",
        "digest.more": "... and {n} more", "health.title": "[{prefix}] {source}",
        "health.text": "- **Source**: {source}\n- **Problem**: {problem}\n- **Details**: {message}",
        "tier": "- **Tier**: {tier} {label}", "state": "- **State**: {state}",
        "volume": "- **Mentions**: {count} ({hour} in the last hour), {share:.0%} negative",
        "sources": "- **Top sources**: {v}", "categories": "- **Risk categories**: {v}",
        "plans": "- **Plans started**: {v}",
        "reason": "- **Why this tier**: {v}", "sample": "> **Sample** ({who}): {text}",
        "acked": "- **Acknowledged by**: {who}{comment}", "comment": ", comment: {v}",
        "must_act": "\n> Please acknowledge; until then reminders follow and the alert escalates.", "sep": ", ",
    },
}


def snapshot(incident: dict[str, Any], facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a delivery stores about its incident; ``facts`` from :func:`card.facts` (sample, reason, ack)."""
    count = incident.get("mention_count") or 0
    return {"id": incident["id"], "title": incident["title"], "tier": incident["tier"], "state": incident["state"],
            "mention_count": count, "negative_share": round((incident.get("negative_count") or 0) / count, 3)
            if count else 0.0, "categories": incident.get("categories", []), "brand": incident.get("brand", ""),
            "sources": incident.get("sources", [])[:5], "plans": incident.get("plans", []),
            "volume_1h": incident.get("volume_1h") or 0, **(facts or {})}


def category_names(codes: list[str], lang: str) -> list[str]:
    names = CATEGORY_EN if lang == "en" else CATEGORIES
    return [names.get(c, c) for c in codes]


def render(kind: str, tier: str, payload: dict[str, Any], *, must_act: bool, recipient: str, ack_url: str,
           console_url: str, lang: str = "zh-CN", mentions: tuple[Mention, ...] = (),
           ack_links: tuple[tuple[str, str], ...] = ()) -> Message:
    """The message of one delivery; ``ack_links`` are (person, personal acknowledge URL) pairs."""
    t = TEXT.get(lang, TEXT["zh-CN"])
    prefix = t.get(f"kind.{kind}", kind)
    common: dict[str, Any] = {"tier": tier, "kind": kind, "recipient": recipient, "lang": lang,
                              "mentions": mentions}
    if kind == "digest":
        items = payload.get("items", [])
        lines = [f"- {i.get('tier', '')} #{i.get('id', '')} {inline(str(i.get('title', '')), 60)} "
                 f"({t.get('kind.' + str(i.get('kind', '')), '')})" for i in items[:50]]
        if len(items) > 50:
            lines.append("- " + t["digest.more"].format(n=len(items) - 50))
        return Message(title=t["digest.title"].format(prefix=prefix, n=len(items)), text="\n".join(lines),
                       console_url=console_url, data=payload, **common)
    if kind == "health":
        fields = {k: payload.get(k, "") for k in ("source", "problem", "message")}
        return Message(title=t["health.title"].format(prefix=prefix, source=fields["source"]),
                       text=t["health.text"].format(**fields), data=payload, **common)
    inc = payload["incident"]
    lines = [t["tier"].format(tier=tier, label=t.get(f"tier.{tier}", ""))]
    if inc.get("reason"):
        lines.append(t["reason"].format(v=inc["reason"]))
    lines += [t["state"].format(state=t.get(f"state.{inc['state']}", inc["state"])),
              t["volume"].format(count=inc["mention_count"], hour=inc["volume_1h"], share=inc["negative_share"])]
    if inc.get("acknowledged_by"):
        comment = t["comment"].format(v=inc["ack_comment"]) if inc.get("ack_comment") else ""
        lines.append(t["acked"].format(who=inc["acknowledged_by"], comment=comment))
    shown = {"sources": [inline(s, 40) for s in inc.get("sources") or []],
             "categories": category_names(list(inc.get("categories") or []), lang),
             "plans": [inline(p, 40) for p in inc.get("plans") or []]}
    for key, values in shown.items():
        if values:
            lines.append(t[key].format(v=t["sep"].join(values)))
    sample = inc.get("sample")
    if sample and sample.get("text"):
        who = t["sep"].join(dict.fromkeys(x for x in (sample.get("author"), sample.get("source")) if x)) or "—"
        lines.append("\n" + t["sample"].format(who=who, text=sample["text"]))
    if must_act and inc["state"] == "open" and kind not in ("resolved", "acknowledged"):
        lines.append(t["must_act"])
    return Message(title=t["title"].format(prefix=prefix, tier=tier, id=inc["id"], title=inline(inc["title"], 80)),
                   text="\n".join(lines), incident_id=inc["id"], ack_url=ack_url, console_url=console_url,
                   ack_links=ack_links if ack_url else (),
                   must_act=must_act, data=inc, **common)
