"""Routes: which recipients hear about an incident, at which escalation level, must-act or informed.

Schema of a ``[[routes]]`` table (every key optional except one recipient selector)::

    [[routes]]
    name = "p1-directors"           # shown in the API and the delivery log
    tiers = ["P1"]                  # default: every tier
    categories = ["food_safety"]    # default: any category
    brands = ["鲜味楼"]              # default: any brand
    level = 0                       # escalation level: 0 first, 1 when level 0 did not acknowledge in time, ...
    must_act = true                 # acknowledgement required (escalation, reminders); false = informed
    digest = false                  # true: only in the daily digest
    health = false                  # also receives source-health alerts
    channels = ["crisis-dingtalk"]  # channel names from [[channels]]
    users = ["wang"]                # Lantern users by name ...
    roles = ["manager", "oncall"]   # ... by role ...
    teams = ["pr"]                  # ... or by team; users are reached in the console, and on the
                                    # route's channels through their contacts (@ in robots, e-mail)

With no routes configured, :func:`default_routes` applies: P1/P2 to managers
and on-call (must act), escalating to admins; P3 to managers (informed); P4 to
managers in the digest only.

Configured routes never silently drop that coverage (issue 12): with
``fill_defaults`` (setting ``incidents.default_routes``, on by default) a tier
that no configured level-0 route covers for every incident (no category or brand
filter) keeps the default routes of that tier, and a tier whose level-0 routes
must act but that has no level-1 route keeps the default escalation to admins.
Without it only the configured routes apply; :func:`coverage_gaps` names what is
then missing, for the start-up log and ``lantern check``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from monitor.incidents.model import TIERS

from .errors import AlertConfigError

CONSOLE = "console"

# Every key of a [[routes]] table with its help for users (the commented lantern.toml is written from it).
ROUTE_KEYS: dict[str, str] = {
    "name": "Shown in the routing view and the delivery log.",
    "tiers": 'Incident tiers this route hears about, e.g. ["P1", "P2"] (default: all four).',
    "categories": 'Only incidents with one of these risk categories, e.g. ["food_safety"] (default: any).',
    "brands": "Only incidents about one of these brands (default: any).",
    "level": "Escalation level: 0 is told first; level 1 when nobody at level 0 acknowledged within "
             "incidents.escalate_minutes, and so on (0-9, default 0).",
    "must_act": "true: these recipients must acknowledge (reminders, escalation); false (default): informed.",
    "digest": "true: only in the daily digest (incidents.digest_at), never at once.",
    "health": "true: also receives source-health alerts (a source failing or gone quiet).",
    "channels": 'Names of [[channels]] to post to, e.g. ["crisis-dingtalk"].',
    "users": 'Lantern users by login name, e.g. ["wang"] ...',
    "roles": '... or by role: admin, manager, oncall, agent, e.g. ["manager", "oncall"] ...',
    "teams": '... or by team, e.g. ["pr"]. Selected people are alerted in the console and, on the '
             "route's channels, through their contacts (@ in robots, e-mail). Give at least one of channels, "
             "users, roles, teams.",
}


@dataclass(frozen=True)
class Route:
    name: str
    tiers: tuple[str, ...] = TIERS
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    level: int = 0
    must_act: bool = False
    digest: bool = False
    health: bool = False
    channels: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    plan: str = ""  # set for routes a contingency plan adds: they apply once the plan started
    builtin: bool = False  # one of default_routes(), in force because the configured routes leave a gap

    def matches(self, tier: str, categories: Iterable[str], brand: str, plans: Iterable[str] = ()) -> bool:
        if self.plan and self.plan not in set(plans):
            return False
        if tier not in self.tiers:
            return False
        if self.categories and not set(self.categories) & set(categories):
            return False
        return not (self.brands and brand not in self.brands)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Recipient:
    key: str  # "user:wang" | "channel:crisis-dingtalk"
    label: str
    channel: str
    must_act: bool
    level: int
    digest: bool
    route: str
    mention: tuple[str, ...] = ()  # channel recipients: the people (user names) the routes selected


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AlertConfigError(f"{where}: {key} 必须是字符串列表 (must be a list of strings)")
    return tuple(value)


def parse_route(table: dict[str, Any], where: str, channels: Iterable[str], plan: str = "") -> Route:
    if not isinstance(table, dict):
        raise AlertConfigError(f"{where}: 必须是表 (must be a table)")
    unknown = set(table) - set(ROUTE_KEYS)
    if unknown:
        raise AlertConfigError(f"{where}: 未知键 {', '.join(sorted(unknown))} (unknown key); "
                               f"可用的键 (valid keys): {', '.join(ROUTE_KEYS)}")
    tiers = _strings(table, "tiers", where) or TIERS
    bad = [t for t in tiers if t not in TIERS]
    if bad:
        raise AlertConfigError(f"{where}: 未知级别 {', '.join(bad)} (tiers must be P1..P4)")
    level = table.get("level", 0)
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 9:
        raise AlertConfigError(f"{where}: level 必须是 0-9 的整数 (level must be an integer 0-9)")
    for flag in ("must_act", "digest", "health"):
        if not isinstance(table.get(flag, False), bool):
            raise AlertConfigError(f"{where}: {flag} 必须是 true/false (must be a boolean)")
    route = Route(
        name=str(table.get("name") or where), tiers=tiers, categories=_strings(table, "categories", where),
        brands=_strings(table, "brands", where), level=level, must_act=table.get("must_act", False),
        digest=table.get("digest", False), health=table.get("health", False),
        channels=_strings(table, "channels", where), users=_strings(table, "users", where),
        roles=_strings(table, "roles", where), teams=_strings(table, "teams", where), plan=plan)
    missing = [c for c in route.channels if c not in set(channels)]
    if missing:
        raise AlertConfigError(f"{where}: 未配置的渠道 {', '.join(missing)} (unknown channels)")
    if not (route.channels or route.users or route.roles or route.teams):
        raise AlertConfigError(f"{where}: 至少需要 channels、users、roles 或 teams 之一 (no recipients)")
    return route


def parse_routes(tables: Sequence[dict[str, Any]], channels: Iterable[str], *,
                 fill_defaults: bool = True) -> list[Route]:
    names = list(channels)
    routes = [parse_route(t, f"[[routes]] #{i + 1}", names) for i, t in enumerate(tables)]
    if not routes:
        return default_routes()
    return [*routes, *filled_defaults(routes)] if fill_defaults else routes


def default_routes() -> list[Route]:
    return [
        Route("默认：P1/P2 经理与值班", tiers=("P1", "P2"), roles=("manager", "oncall"), must_act=True, health=True,
              builtin=True),
        Route("默认：P1/P2 未确认升级至管理员", tiers=("P1", "P2"), level=1, roles=("admin",), must_act=True,
              builtin=True),
        Route("默认：P3 经理知悉", tiers=("P3",), roles=("manager",), builtin=True),
        Route("默认：P4 每日摘要", tiers=("P4",), roles=("manager",), digest=True, builtin=True),
    ]


@dataclass(frozen=True)
class Gaps:
    """What configured routes leave uncovered: tiers nobody hears about, must-act tiers that never escalate."""

    unrouted: tuple[str, ...] = ()  # no level-0 route for every incident of the tier
    unescalated: tuple[str, ...] = ()  # level-0 routes must act, but no route of level 1 or more


def coverage_gaps(routes: Iterable[Route], escalating: Iterable[str] = TIERS) -> Gaps:
    """Gaps of ``routes``; ``escalating`` are the tiers that escalate at all (incidents.escalate_minutes)."""
    own = [r for r in routes if not r.plan]
    whole = [r for r in own if r.level == 0 and not r.categories and not r.brands]
    unrouted = tuple(t for t in TIERS if not any(t in r.tiers for r in whole))
    must_act = {t for r in own if r.level == 0 and r.must_act for t in r.tiers} & set(escalating)
    unescalated = tuple(t for t in TIERS if t in must_act and not any(t in r.tiers and r.level >= 1 for r in own))
    return Gaps(unrouted, unescalated)


def filled_defaults(routes: Sequence[Route]) -> list[Route]:
    """The default routes, narrowed to the tiers ``routes`` leave uncovered (see the module docstring)."""
    gaps = coverage_gaps(routes)
    out = []
    for route in default_routes():
        wanted = gaps.unescalated + gaps.unrouted if route.level >= 1 else gaps.unrouted
        tiers = tuple(t for t in route.tiers if t in wanted)
        if tiers:
            out.append(replace(route, tiers=tiers))
    return out


def describe_gaps(routes: Sequence[Route], escalating: Iterable[str] = TIERS) -> list[tuple[str, str]]:
    """``(level, text)`` about the coverage of ``routes`` (zh-CN, English in parentheses); empty when complete.

    ``level`` is "info" for tiers the default routes fill, "warn" for gaps nobody covers.
    """
    lines: list[tuple[str, str]] = []
    added = [r for r in routes if r.builtin]
    if added and any(not r.builtin for r in routes):
        filled = sorted({t for r in added for t in r.tiers})
        lines.append(("info", f"默认路由补上了 {'、'.join(filled)}：你配置的 [[routes]] 没有覆盖这些级别的全部事件"
                              f"或升级 (default routes cover {', '.join(filled)}, which your [[routes]] leave out)"))
    gaps = coverage_gaps(routes, escalating)
    if gaps.unrouted:
        lines.append(("warn", f"{'、'.join(gaps.unrouted)} 级别的事件不会通知任何人：没有覆盖全部事件的 level 0 路由 "
                              f"(no level-0 route covers every {', '.join(gaps.unrouted)} incident: nobody is told)"))
    if gaps.unescalated:
        lines.append(("warn", f"{'、'.join(gaps.unescalated)} 级别无人确认时不会升级：缺少 level 1 路由 "
                              f"(no level-1 route: unacknowledged {', '.join(gaps.unescalated)} incidents never "
                              "escalate)"))
    return lines


def recipients(routes: Iterable[Route], people: Sequence[dict[str, Any]], *, max_level: int,
               only_level: int | None = None) -> list[Recipient]:
    """Expand matching routes into recipients (one per key; must-act and the lowest level win)."""
    found: dict[str, Recipient] = {}
    for route in routes:
        if route.level > max_level or (only_level is not None and route.level != only_level):
            continue
        selected = [p for p in people if p["name"] in route.users or p["role"] in route.roles
                    or (p.get("team") and p["team"] in route.teams)]
        names = tuple(str(p["name"]) for p in selected)
        targets = [(f"channel:{c}", c, c, names) for c in route.channels]
        targets += [(f"user:{p['name']}", str(p.get("display_name") or p["name"]), CONSOLE, ()) for p in selected]
        for key, label, channel, mention in targets:
            old = found.get(key)
            new = Recipient(key, label, channel, route.must_act, route.level, route.digest, route.name, mention)
            if old is not None:
                new = Recipient(key, label, channel, old.must_act or new.must_act, min(old.level, new.level),
                                old.digest and new.digest, old.route, tuple(dict.fromkeys(old.mention + mention)))
            found[key] = new
    return list(found.values())


def max_level(routes: Iterable[Route], tier: str, categories: Iterable[str], brand: str,
              plans: Iterable[str]) -> int:
    cats, plan_list = list(categories), list(plans)
    return max((r.level for r in routes if r.matches(tier, cats, brand, plan_list)), default=0)
