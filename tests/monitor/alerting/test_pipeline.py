"""The alert stages end to end on an injected clock: grouping, dedupe, silences, quiet hours, retries, budgets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting import silences
from tests.fixtures.alerts.helpers import T0, Clock, Robot, add_user, make_services, settings_for, store_mention

STORY = "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"


def distinct_title(i: int) -> str:
    return "".join(chr(0x4E00 + i * 40 + k * 3) for k in range(8))


@pytest.fixture
async def make(tmp_path: Path, robot: Robot) -> AsyncIterator[Callable[..., Any]]:
    made: list[Any] = []

    async def build(routes: list[dict[str, Any]] | None = None, channels: list[dict[str, Any]] | None = None,
                    clock: Clock | None = None, **overrides: Any) -> Any:
        channels = channels if channels is not None else [{"name": "hook", "kind": "webhook",
                                                           "url": robot.url("/hook")}]
        routes = routes if routes is not None else [{"channels": ["hook"]}]
        svc = await make_services(settings_for(tmp_path, channels=channels, routes=routes, **overrides),
                                  clock or Clock())
        made.append(svc)
        return svc

    yield build
    for svc in made:
        await svc.alerts.stop()
        svc.db.close()


async def open_incident(svc: Any, title: str = STORY, tier: str = "P2", **kw: Any) -> int:
    m = await store_mention(svc, title=title, tier=tier, categories=("food_safety",), **kw)
    changes = await svc.incidents.on_mentions([m])
    return int(changes[0].incident_id)


def events(robot: Robot) -> list[tuple[str, int | None]]:
    return [(r["json"]["event"], r["json"]["incident_id"]) for r in robot.requests]


async def deliveries(svc: Any, **where: Any) -> list[dict[str, Any]]:
    from monitor.alerting.outbox import list_deliveries

    return await svc.db.read(lambda db: list_deliveries(db, **where))


async def test_group_wait_dedupe_group_interval_and_repeat(make: Any, robot: Robot) -> None:
    svc = await make()
    iid = await open_incident(svc)
    await svc.alerts.tick(T0)
    assert robot.requests == []  # group_wait (30 s) collects more before the first alert
    await svc.alerts.tick(T0 + 30)
    assert events(robot) == [("open", iid)]
    await svc.alerts.tick(T0 + 31)
    assert len(robot.requests) == 1  # the notification log dedupes
    svc.clock.now = T0 + 60
    m = await store_mention(svc, title=STORY + "，网友纷纷转发", categories=("food_safety",))
    await svc.incidents.on_mentions([m])
    await svc.alerts.tick(T0 + 100)
    assert len(robot.requests) == 1  # a change within group_interval waits
    await svc.alerts.tick(T0 + 30 + 300)
    assert events(robot)[-1] == ("update", iid)
    assert robot.requests[-1]["json"]["incident"]["mention_count"] == 2
    await svc.alerts.tick(T0 + 30 + 300 + 3600)
    assert len(robot.requests) == 2  # nothing new, repeat_interval not reached
    await svc.alerts.tick(T0 + 30 + 300 + 4 * 3600)
    assert events(robot)[-1] == ("repeat", iid)
    rows = await deliveries(svc, incident_id=iid)
    assert {r["status"] for r in rows} == {"sent"}
    assert {r["recipient"] for r in rows} == {"channel:hook"}


async def test_upward_retier_reroutes_at_once(make: Any, robot: Robot, tmp_path: Path) -> None:
    low = await Robot().start()
    try:
        svc = await make(channels=[{"name": "hook", "kind": "webhook", "url": robot.url("/hook")},
                                   {"name": "low", "kind": "webhook", "url": low.url("/low")}],
                         routes=[{"tiers": ["P3"], "channels": ["low"]},
                                 {"tiers": ["P1", "P2"], "channels": ["hook"], "must_act": True}])
        iid = await open_incident(svc, tier="P3")
        await svc.alerts.tick(T0 + 30)
        assert len(low.requests) == 1 and robot.requests == []
        svc.clock.now = T0 + 40
        await svc.incidents.retier(iid, "P1", "user:wang", "央媒跟进")
        await svc.alerts.tick(T0 + 41)  # no group_wait / group_interval for a climb
        assert events(robot) == [("open", iid)]
        assert robot.requests[0]["json"]["tier"] == "P1"
        assert robot.requests[0]["json"]["ack_url"].startswith("http://127.0.0.1:8080/ack/")
    finally:
        await low.close()


async def test_silence_holds_alerts_until_it_ends(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0)
    await svc.db.write(lambda db: silences.create(db, {"ends_at": T0 + 600, "matchers": {"tiers": ["P2"]},
                                                       "comment": "演练"}, "user:wang", T0))
    iid = await open_incident(svc)
    await svc.alerts.tick(T0 + 1)
    await svc.alerts.tick(T0 + 400)
    assert robot.requests == []
    await svc.alerts.tick(T0 + 601)
    assert events(robot) == [("open", iid)]


async def test_daily_maintenance_window(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0)
    # T0 is 10:00 in Shanghai: a daily 09:30-10:30 window for a week mutes it.
    await svc.db.write(lambda db: silences.create(db, {"kind": "maintenance", "ends_at": T0 + 7 * 86400,
                                                       "daily": "09:30-10:30"}, "user:admin", T0))
    await open_incident(svc)
    await svc.alerts.tick(T0 + 1)
    assert robot.requests == []
    await svc.alerts.tick(T0 + 1801)  # 10:30:01
    assert len(robot.requests) == 1


async def test_quiet_hours_send_a_digest_but_never_hold_p1(make: Any, robot: Robot) -> None:
    night = T0 + 13 * 3600  # 23:00 Shanghai
    svc = await make(incidents__group_wait_s=0, incidents__quiet_hours="22:00-08:00", clock=Clock(night))
    p2 = await open_incident(svc, tier="P2")
    p1 = await open_incident(svc, title=distinct_title(1), tier="P1")
    await svc.alerts.tick(night + 1)
    assert events(robot) == [("open", p1)]
    held = await deliveries(svc, incident_id=p2)
    assert [r["status"] for r in held] == ["digest"]
    await svc.alerts.tick(night + 8 * 3600 + 60)  # 07:01: still quiet (the P1 got its 4-hour repeat)
    assert {e for e in events(robot)} == {("open", p1), ("repeat", p1)}
    await svc.alerts.tick(night + 9 * 3600)  # 08:00
    assert events(robot)[-1] == ("digest", None)
    assert [i["id"] for i in robot.requests[-1]["json"]["incident"]["items"]] == [p2]
    assert {r["status"] for r in await deliveries(svc, incident_id=p2)} == {"digested"}


async def test_p4_goes_to_the_daily_digest_only(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0)
    p4 = await open_incident(svc, tier="P4")
    await svc.alerts.tick(T0 + 1)
    assert robot.requests == []
    await svc.alerts.tick(T0 + 23 * 3600)  # next 09:00 Shanghai
    assert events(robot) == [("digest", None)]
    assert "#" + str(p4) in robot.requests[0]["json"]["text"]


async def test_retryable_failures_back_off_and_recover(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0)
    robot.replies += [(500, {}), (503, {})]
    iid = await open_incident(svc)
    report = await svc.alerts.tick(T0 + 1)
    assert report.sent.retried == 1
    (row,) = await deliveries(svc, incident_id=iid)
    assert row["status"] == "queued" and row["attempts"] == 1 and row["next_attempt_at"] == T0 + 11
    assert "HTTP 500" in row["last_error"]
    await svc.alerts.tick(T0 + 5)
    assert len(robot.requests) == 1  # not before the backoff
    await svc.alerts.tick(T0 + 11)
    (row,) = await deliveries(svc, incident_id=iid)
    assert row["attempts"] == 2 and row["next_attempt_at"] == T0 + 31
    await svc.alerts.tick(T0 + 31)
    (row,) = await deliveries(svc, incident_id=iid)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["last_error"] is None


async def test_final_failures_are_not_retried_and_keep_their_reason(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0,
                     channels=[{"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"),
                                "token": "ding-token-secret-1", "secret": "SECding-secret-2"}],
                     routes=[{"channels": ["ding"]}])
    robot.default = (200, {"errcode": 310000, "errmsg": "sign not match"})
    iid = await open_incident(svc)
    await svc.alerts.tick(T0 + 1)
    await svc.alerts.tick(T0 + 3600)
    (row,) = await deliveries(svc, incident_id=iid)
    assert row["status"] == "failed" and "310000" in row["last_error"]
    assert len(robot.requests) == 1
    assert "ding-token-secret-1" not in row["last_error"] and "SECding-secret-2" not in row["last_error"]


async def test_retries_stop_after_max_attempts(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0, incidents__max_attempts=3)
    robot.default = (502, {})
    iid = await open_incident(svc)
    now = T0
    for _ in range(6):
        now += 700
        await svc.alerts.tick(now)
    (row,) = await deliveries(svc, incident_id=iid)
    assert row["status"] == "failed" and row["attempts"] == 3
    assert len(robot.requests) == 3


async def test_p1_never_waits_behind_p3_and_overflow_becomes_a_digest(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_s=0,
                     channels=[{"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"), "token": "t0k3n"}],
                     routes=[{"channels": ["ding"]}])
    for i in range(30):
        await open_incident(svc, title=distinct_title(i), tier="P3")
    urgent = await open_incident(svc, title=distinct_title(99), tier="P1")
    await svc.alerts.tick(T0 + 1)
    sent = [r["json"] for r in robot.requests]
    # P3 may fill only 60 % of the 20/min budget (12), so 8 places stay free for P1/P2; the P1 goes first.
    assert len(sent) == 12
    assert f"事件 #{urgent}" in sent[0]["markdown"]["title"]
    later = await open_incident(svc, title=distinct_title(98), tier="P1")
    await svc.alerts.tick(T0 + 30)
    assert len(robot.requests) == 13  # a later P1 still finds room; the P3 backlog does not move
    assert f"事件 #{later}" in robot.requests[-1]["json"]["markdown"]["title"]
    await svc.alerts.tick(T0 + 62)  # held 60 s: the 19 waiting P3 alerts fold into one digest
    digests = [r["json"] for r in robot.requests[13:] if "舆情摘要" in r["json"]["markdown"]["title"]]
    assert len(digests) == 1 and "19 条" in digests[0]["markdown"]["title"]
    assert len(robot.requests) == 14
    statuses = [r["status"] for r in await deliveries(svc, limit=1000)]
    assert statuses.count("digested") == 19 and "queued" not in statuses


async def test_health_alert_reaches_on_call_once_per_repeat_interval(make: Any, robot: Robot) -> None:
    svc = await make(routes=[])  # defaults: console to managers/on-call
    await add_user(svc, "duty", "oncall")
    await add_user(svc, "agent1", "agent")
    await svc.alerts.health_alert("weibo-关键词", "failing", "连续 5 次失败：HTTP 403（cookie 过期？）")
    await svc.alerts.health_alert("weibo-关键词", "failing", "连续 6 次失败")
    await svc.alerts.tick(T0 + 1)
    rows = await deliveries(svc)
    assert [(r["recipient"], r["kind"], r["status"]) for r in rows] == [("user:duty", "health", "sent")]


async def test_a_hanging_robot_never_holds_up_the_other_channels(make: Any, robot: Robot) -> None:
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    release = asyncio.Event()
    hung: list[int] = []

    async def slow(request: web.Request) -> web.Response:
        hung.append(1)
        await release.wait()
        return web.json_response({"errcode": 0})

    app = web.Application()
    app.router.add_post("/robot/send", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    arrived = asyncio.Event()
    robot.check = lambda request, body: arrived.set() or None  # type: ignore[func-returns-value]
    try:
        svc = await make(incidents__group_wait_s=0,
                         channels=[{"name": "hook", "kind": "webhook", "url": robot.url("/hook")},
                                   {"name": "ding", "kind": "dingtalk", "url": str(server.make_url("/robot/send")),
                                    "token": "tok", "timeout_s": 60}],
                         routes=[{"channels": ["hook", "ding"]}])
        first = await open_incident(svc, tier="P1")
        await svc.alerts.tick(T0 + 1, wait=False)
        await asyncio.wait_for(arrived.wait(), timeout=10)
        arrived.clear()
        second = await open_incident(svc, title=distinct_title(5), tier="P1")
        await svc.alerts.tick(T0 + 2, wait=False)  # ding is still hanging on the first alert
        await asyncio.wait_for(arrived.wait(), timeout=10)
        assert [e[1] for e in events(robot)] == [first, second]
        assert hung == [1]  # the hanging robot got no second request while busy
        release.set()
        await svc.alerts.tick(T0 + 3)  # waits for the batch in flight, then sends the rest
        statuses = {(r["incident_id"], r["channel"]): r["status"] for r in await deliveries(svc)}
        assert set(statuses.values()) == {"sent"} and len(statuses) == 4
    finally:
        release.set()
        await server.close()


def test_messages_render_in_chinese_by_default_and_in_english_on_request() -> None:
    from monitor.alerting.messages import render

    payload = {"incident": {"id": 4, "title": "外卖异物", "tier": "P2", "state": "open", "mention_count": 10,
                            "negative_share": 0.8, "categories": ["food_safety"], "sources": ["weibo", "douyin"],
                            "plans": [], "volume_1h": 6}}
    zh = render("escalate", "P2", payload, must_act=True, recipient="王经理", ack_url="http://x/ack/1.a.b",
                console_url="http://x/console#/incidents/4")
    assert zh.title == "【升级通知·无人确认·P2】事件 #4：外卖异物"
    assert "负面占比 80%" in zh.text and "weibo、douyin" in zh.text and "逐级升级" in zh.text
    assert "[确认处理](http://x/ack/1.a.b)" in zh.markdown()
    en = render("open", "P2", payload, must_act=False, recipient="Wang", ack_url="", console_url="http://x/c",
                lang="en")
    assert en.title == "[New incident · P2] Incident #4: 外卖异物"
    assert "80% negative" in en.text and "[Details](http://x/c)" in en.markdown() and "acknowledge" not in en.text


async def test_a_new_p1_is_told_at_once_and_its_updates_still_grouped(make: Any, robot: Robot) -> None:
    svc = await make()  # defaults: group_wait_s 30, group_wait_tiers P1:0
    iid = await open_incident(svc, tier="P1")
    await svc.alerts.tick(T0)
    assert events(robot) == [("open", iid)]  # no group wait for the first alert of a P1
    svc.clock.now = T0 + 5
    m = await store_mention(svc, title=STORY + "，网友纷纷转发", categories=("food_safety",), tier="P1")
    await svc.incidents.on_mentions([m])
    await svc.alerts.tick(T0 + 10)
    assert len(robot.requests) == 1  # the next change waits for group_interval
    await svc.alerts.tick(T0 + 300)
    assert events(robot)[-1] == ("update", iid)


async def test_group_wait_per_tier_is_configurable(make: Any, robot: Robot) -> None:
    svc = await make(incidents__group_wait_tiers=["P1:20", "P2:0"])
    p2 = await open_incident(svc, title=distinct_title(1), tier="P2")
    p1 = await open_incident(svc, title=distinct_title(2), tier="P1")
    assert p1 != p2
    await svc.alerts.tick(T0)
    assert events(robot) == [("open", p2)]
    await svc.alerts.tick(T0 + 20)
    assert events(robot) == [("open", p2), ("open", p1)]
