"""What an alert says: a snapshot of the incident stored with the delivery, rendered at send time (zh-CN)."""

from __future__ import annotations

from typing import Any

from monitor.channels.base import TIER_LABELS, Message

STATE_LABELS = {"open": "未处理", "acknowledged": "已确认", "mitigating": "处置中", "resolved": "已解决"}
KIND_PREFIX = {
    "open": "新事件", "update": "事件更新", "retier": "级别升高", "escalate": "升级通知·无人确认",
    "remind": "提醒·待确认", "repeat": "仍未解决", "resolved": "已解决", "digest": "舆情摘要", "health": "数据源异常",
}


def snapshot(incident: dict[str, Any]) -> dict[str, Any]:
    count = incident.get("mention_count") or 0
    return {"id": incident["id"], "title": incident["title"], "tier": incident["tier"], "state": incident["state"],
            "mention_count": count, "negative_share": round((incident.get("negative_count") or 0) / count, 3)
            if count else 0.0, "categories": incident.get("categories", []), "brand": incident.get("brand", ""),
            "sources": incident.get("sources", [])[:5], "plans": incident.get("plans", []),
            "volume_1h": incident.get("volume_1h") or 0}


def render(kind: str, tier: str, payload: dict[str, Any], *, must_act: bool, recipient: str, ack_url: str,
           console_url: str) -> Message:
    prefix = KIND_PREFIX.get(kind, kind)
    if kind == "digest":
        items = payload.get("items", [])
        lines = [f"- 【{i.get('tier', '')}】#{i.get('id', '')} {i.get('title', '')}"
                 f"（{KIND_PREFIX.get(i.get('kind', ''), '')}）" for i in items[:50]]
        more = f"\n- ……另有 {len(items) - 50} 条" if len(items) > 50 else ""
        return Message(title=f"【{prefix}】{len(items)} 条待阅", text="\n".join(lines) + more, tier=tier, kind=kind,
                       recipient=recipient, console_url=console_url, data=payload)
    if kind == "health":
        return Message(title=f"【{prefix}】{payload.get('source', '')}",
                       text=f"- **数据源**：{payload.get('source', '')}\n- **问题**：{payload.get('problem', '')}\n"
                            f"- **详情**：{payload.get('message', '')}", tier=tier, kind=kind, recipient=recipient,
                       data=payload)
    inc = payload["incident"]
    lines = [
        f"- **级别**：{tier} {TIER_LABELS.get(tier, '')}",
        f"- **状态**：{STATE_LABELS.get(inc['state'], inc['state'])}",
        f"- **提及**：{inc['mention_count']} 条（近一小时 {inc['volume_1h']} 条），"
        f"负面占比 {inc['negative_share']:.0%}",
    ]
    if inc.get("sources"):
        lines.append(f"- **主要来源**：{'、'.join(inc['sources'])}")
    if inc.get("categories"):
        lines.append(f"- **风险类别**：{'、'.join(inc['categories'])}")
    if inc.get("plans"):
        lines.append(f"- **已启动预案**：{'、'.join(inc['plans'])}")
    if must_act and kind != "resolved":
        lines.append("\n> 需要您确认处理；未确认将按时提醒并逐级升级。")
    return Message(title=f"【{prefix}·{tier}】事件 #{inc['id']}：{inc['title']}", text="\n".join(lines), tier=tier,
                   kind=kind, incident_id=inc["id"], ack_url=ack_url, console_url=console_url, must_act=must_act,
                   recipient=recipient, data=inc)
