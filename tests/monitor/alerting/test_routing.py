"""Routes cover P1-P4 and escalation: configured routes never silently drop the defaults' coverage (#12)."""

from __future__ import annotations

from monitor.alerting.routing import Route, coverage_gaps, describe_gaps, parse_routes

P1_DINGTALK = {"name": "P1 群", "tiers": ["P1"], "channels": ["ding"], "must_act": True}


def test_one_route_keeps_the_defaults_for_the_tiers_it_leaves_out() -> None:
    routes = parse_routes([P1_DINGTALK], ["ding", "console"])
    assert [(r.name, r.tiers, r.level, r.builtin) for r in routes] == [
        ("P1 群", ("P1",), 0, False),
        ("默认：P1/P2 经理与值班", ("P2",), 0, True),
        ("默认：P1/P2 未确认升级至管理员", ("P1", "P2"), 1, True),
        ("默认：P3 经理知悉", ("P3",), 0, True),
        ("默认：P4 每日摘要", ("P4",), 0, True),
    ]
    assert coverage_gaps(routes) == coverage_gaps(parse_routes([], []))
    assert describe_gaps(routes) == [("info", "默认路由补上了 P1、P2、P3、P4：你配置的 [[routes]] 没有覆盖这些级别"
                                              "的全部事件或升级 (default routes cover P1, P2, P3, P4, which your "
                                              "[[routes]] leave out)")]


def test_without_defaults_every_gap_is_named() -> None:
    routes = parse_routes([P1_DINGTALK], ["ding"], fill_defaults=False)
    assert [r.name for r in routes] == ["P1 群"]
    gaps = coverage_gaps(routes, escalating=("P1", "P2", "P3"))
    assert gaps.unrouted == ("P2", "P3", "P4") and gaps.unescalated == ("P1",)
    lines = describe_gaps(routes, ("P1", "P2", "P3"))
    assert lines == [("warn", "P2、P3、P4 级别的事件不会通知任何人：没有覆盖全部事件的 level 0 路由 "
                              "(no level-0 route covers every P2, P3, P4 incident: nobody is told)"),
                     ("warn", "P1 级别无人确认时不会升级：缺少 level 1 路由 (no level-1 route: unacknowledged P1 "
                              "incidents never escalate)")]


def test_a_filtered_route_does_not_cover_its_tier_and_plan_routes_do_not_count() -> None:
    food = {"tiers": ["P3"], "categories": ["food_safety"], "roles": ["manager"]}
    routes = parse_routes([food, {"tiers": ["P1", "P2", "P4"], "roles": ["oncall"]}], [], fill_defaults=False)
    assert coverage_gaps(routes).unrouted == ("P3",)
    plan = Route("预案:x", tiers=("P3",), roles=("manager",), plan="x")
    assert coverage_gaps([*routes, plan]).unrouted == ("P3",)
    filled = parse_routes([food], [])
    assert [r.name for r in filled if r.builtin and "P3" in r.tiers] == ["默认：P3 经理知悉"]


def test_complete_routes_add_nothing() -> None:
    tables = [{"tiers": ["P1", "P2", "P3", "P4"], "roles": ["manager"], "must_act": True},
              {"tiers": ["P1", "P2", "P3", "P4"], "level": 1, "roles": ["admin"], "must_act": True}]
    routes = parse_routes(tables, [])
    assert not any(r.builtin for r in routes) and describe_gaps(routes) == []
