"""Contingency plans (预案): when an incident matches, its checklist attaches and draft scripts are queued.

Schema of a ``[[plans]]`` table::

    [[plans]]
    name = "食品安全预案"
    categories = ["food_safety"]        # any of these (empty: any category)
    tiers = ["P1", "P2"]                # default: P1 and P2
    brands = []                         # default: any brand
    checklist = ["通知法务与公关", "涉事门店停业自查", "准备监管部门沟通材料"]

    [plans.notify]                      # optional: who to notify, same keys as a [[routes]] recipient part
    roles = ["manager"]
    channels = ["crisis-dingtalk"]
    must_act = true

    [[plans.scripts]]                   # pre-written script templates (话术模板)
    title = "食品安全统一口径"
    body = "您好，关于「{title}」，我们已第一时间核查……"
    priority = "high"                   # default: high for P1/P2, normal otherwise

Placeholders in a template's ``title`` (seen by managers and agents): {id} {title}
{tier} {brand} {categories} {mention_count}.  A ``body`` is what agents say to
customers, so it takes only {brand} and {title}, and {title} does not paste the raw
headline (a repost's hashtag, an accusation): it becomes a marked note
``【请改写：…「headline」…】`` that the broadcast part refuses to submit for
approval until a manager rewrote it.  Other placeholders in a body are refused
when the plan is loaded.  A plan starts once per incident (when it opens or is re-tiered into the plan's tiers):
the checklist attaches to the incident and each template becomes a draft script
in the approval queue through ``DraftScripts.draft_for_plan`` (the broadcast part),
linked to the incident.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from classifiers.categories import CATEGORIES
from monitor.alerting.errors import AlertConfigError
from monitor.alerting.routing import Route, parse_route
from monitor.incidents import queries, store_ops
from monitor.incidents.model import TIERS, IncidentChange
from monitor.store import Store

log = logging.getLogger(__name__)
# Every key of a [[plans]] table and of its [[plans.scripts]] templates, with help for users.
PLAN_KEYS: dict[str, str] = {
    "name": "Unique name, shown on the incident (required).",
    "categories": 'Start for incidents with one of these risk categories, e.g. ["food_safety"] (default: any).',
    "tiers": 'Start for incidents of these tiers (default ["P1", "P2"]); an incident re-tiered into one starts '
             "it then.",
    "brands": "Only incidents about one of these brands (default: any).",
    "checklist": 'Steps shown on the incident to tick off, e.g. ["通知法务与公关", "涉事门店停业自查"].',
    "notify": "Optional table: who else hears about the incident once the plan started; the recipient keys "
              "of a [[routes]] table (channels, users, roles, teams, must_act, level).",
    "scripts": "[[plans.scripts]] templates, each drafted as a script in the approval queue.",
}
SCRIPT_KEYS: dict[str, str] = {
    "title": "Title of the drafted script (required).",
    "body": "Text agents will read to customers (required). Placeholders: {brand}; {title} becomes a marked "
            "【请改写…】 note quoting the incident's headline, which must be rewritten before the script can "
            "be submitted for approval (a raw headline never reaches customers).",
    "priority": "normal | high | critical (default: high for P1/P2 incidents, normal otherwise).",
}
_PLACEHOLDER = re.compile(r"\{(id|title|tier|brand|categories|mention_count)\}")
BODY_PLACEHOLDERS = ("brand", "title")
# The broadcast part refuses to submit a version whose text still holds this mark (broadcast/model.py).
REWRITE_MARK = "【请改写"
PRIORITIES = ("normal", "high", "critical")


@dataclass(frozen=True)
class ScriptTemplate:
    title: str
    body: str
    priority: str = ""


@dataclass(frozen=True)
class Plan:
    name: str
    tiers: tuple[str, ...] = ("P1", "P2")
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    scripts: tuple[ScriptTemplate, ...] = ()
    notify: Route | None = None

    def matches(self, inc: dict[str, Any]) -> bool:
        if inc["tier"] not in self.tiers:
            return False
        if self.categories and not set(self.categories) & set(inc["categories"]):
            return False
        return not (self.brands and inc["brand"] not in self.brands)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tiers": list(self.tiers), "categories": list(self.categories),
                "brands": list(self.brands), "checklist": list(self.checklist),
                "scripts": [s.__dict__ for s in self.scripts], "notify": self.notify.as_dict() if self.notify else None}


def _list(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise AlertConfigError(f"{where}: {key} 必须是非空字符串列表 (must be a list of strings)")
    return tuple(value)


def parse_plan(table: dict[str, Any], where: str, channels: Iterable[str]) -> Plan:
    if not isinstance(table, dict):
        raise AlertConfigError(f"{where}: 必须是表 (must be a table)")
    unknown = set(table) - set(PLAN_KEYS)
    if unknown:
        raise AlertConfigError(f"{where}: 未知键 {', '.join(sorted(unknown))} (unknown key); "
                               f"可用的键 (valid keys): {', '.join(PLAN_KEYS)}")
    name = str(table.get("name") or "").strip()
    if not name:
        raise AlertConfigError(f"{where}: 缺少 name (missing 'name')")
    where = f"[[plans]] {name!r}"
    tiers = _list(table, "tiers", where) or ("P1", "P2")
    if set(tiers) - set(TIERS):
        raise AlertConfigError(f"{where}: tiers 只能是 P1..P4 (tiers must be P1..P4)")
    scripts = []
    raw_scripts = table.get("scripts", [])
    if not isinstance(raw_scripts, list):
        raise AlertConfigError(f"{where}: scripts 必须是表的列表 (must be a list of tables)")
    for i, s in enumerate(raw_scripts):
        unknown = set(s) - set(SCRIPT_KEYS) if isinstance(s, dict) else set()
        if unknown:
            raise AlertConfigError(f"{where}: [[plans.scripts]] #{i + 1}: 未知键 {', '.join(sorted(unknown))} "
                                   f"(unknown key); 可用的键 (valid keys): {', '.join(SCRIPT_KEYS)}")
        if not isinstance(s, dict) or not str(s.get("title") or "").strip() or not str(s.get("body") or "").strip():
            raise AlertConfigError(f"{where}: scripts #{i + 1} 需要 title 和 body (needs title and body)")
        internal = sorted({m.group(1) for m in _PLACEHOLDER.finditer(str(s["body"]))} - set(BODY_PLACEHOLDERS))
        if internal:
            names = ", ".join("{" + n + "}" for n in internal)
            raise AlertConfigError(f"{where}: [[plans.scripts]] #{i + 1}: 正文不能使用 {names}：正文是对客户说的话 "
                                   f"(the body is read to customers; it takes only {{brand}} and {{title}})")
        priority = str(s.get("priority") or "")
        if priority and priority not in PRIORITIES:
            raise AlertConfigError(f"{where}: [[plans.scripts]] #{i + 1}: priority 必须是 {' / '.join(PRIORITIES)} "
                                   f"(priority must be one of {', '.join(PRIORITIES)})")
        scripts.append(ScriptTemplate(str(s["title"]), str(s["body"]), priority))
    notify = None
    if table.get("notify"):
        notify_table = {k: v for k, v in table["notify"].items()} if isinstance(table["notify"], dict) else None
        if notify_table is None:
            raise AlertConfigError(f"{where}: notify 必须是表 (must be a table)")
        notify_table.setdefault("name", f"预案:{name}")
        notify = parse_route({**notify_table, "tiers": list(tiers)}, f"{where}.notify", channels, plan=name)
    return Plan(name, tiers, _list(table, "categories", where), _list(table, "brands", where),
                _list(table, "checklist", where), tuple(scripts), notify)


def parse_plans(tables: Sequence[dict[str, Any]], channels: Iterable[str]) -> list[Plan]:
    names = list(channels)
    plans = [parse_plan(t, f"[[plans]] #{i + 1}", names) for i, t in enumerate(tables)]
    seen = [p.name for p in plans]
    dupes = {n for n in seen if seen.count(n) > 1}
    if dupes:
        raise AlertConfigError(f"[[plans]]: 名称重复 {', '.join(sorted(dupes))} (duplicate names)")
    return plans


def fill(template: str, inc: dict[str, Any]) -> str:
    """A template's title: the known placeholders replaced (categories by their Chinese names)."""
    values = {"id": str(inc["id"]), "title": inc["title"], "tier": inc["tier"], "brand": inc.get("brand") or "",
              "categories": "、".join(CATEGORIES.get(c, c) for c in inc.get("categories") or []),
              "mention_count": str(inc.get("mention_count", 0))}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def fill_body(template: str, inc: dict[str, Any]) -> str:
    """A template's customer-facing body: {brand} as is, {title} as a note the manager must rewrite."""
    headline = " ".join(str(inc["title"]).split())[:80]
    values = {"brand": inc.get("brand") or "",
              "title": f"{REWRITE_MARK}：用一句话向客户说明事件，勿照搬标题「{headline}」】"}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class DraftScripts(Protocol):
    """Where a plan's script templates become drafts (``broadcast.service.ScriptService`` satisfies it)."""

    async def draft_for_plan(self, *, incident_id: int, title: str, body: str, priority: str, author: str) -> int:
        """A draft script linked to the incident, by a non-person author (``预案:<plan>``); returns its id."""
        ...


class PlanRunner:
    def __init__(self, store: Store, plans: Sequence[Plan], *, clock: Callable[[], float],
                 drafts: DraftScripts | None = None) -> None:
        self.store = store
        self.plans = list(plans)
        self.clock = clock
        self.drafts = drafts

    def routes(self) -> list[Route]:
        return [p.notify for p in self.plans if p.notify is not None]

    async def on_changes(self, changes: list[IncidentChange]) -> None:
        for change in changes:
            if change.kind in ("opened", "retiered", "grew"):
                await self.start_matching(change.incident_id)

    async def start_matching(self, incident_id: int) -> list[str]:
        """Start every matching plan not yet started on the incident; returns their names."""
        now = self.clock()

        def txn(db: Any) -> tuple[dict[str, Any], list[Plan]]:
            inc = store_ops.load(db, incident_id)
            if inc["state"] == "resolved":
                return inc, []
            started = [p for p in self.plans if p.name not in inc["plans"] and p.matches(inc)
                       and queries.start_plan(db, incident_id, p.name, p.checklist, now)]
            return store_ops.load(db, incident_id), started

        inc, started = await self.store.write(txn)
        for plan in started:
            for template in plan.scripts:
                await self._draft(inc, plan, template)
        return [p.name for p in started]

    async def _draft(self, inc: dict[str, Any], plan: Plan, template: ScriptTemplate) -> None:
        if self.drafts is None:
            log.warning("plan %s: no script service; template %r not drafted", plan.name, template.title)
            return
        priority = template.priority or ("high" if inc["tier"] in ("P1", "P2") else "normal")
        try:
            script_id = await self.drafts.draft_for_plan(
                incident_id=inc["id"], title=fill(template.title, inc), body=fill_body(template.body, inc),
                priority=priority, author=f"预案:{plan.name}")
        except Exception:  # the checklist is attached already; a failed draft is logged and shown on the timeline
            log.exception("plan %s: drafting %r for incident %s failed", plan.name, template.title, inc["id"])
            now = self.clock()
            await self.store.write(lambda db: store_ops.event(db, inc["id"], now, "script_failed",
                                                              f"预案:{plan.name}", title=template.title))
            return
        now = self.clock()
        await self.store.write(lambda db: queries.link_script(db, inc["id"], script_id, plan.name, now))
