"""Copy-to-reply counts, shift targeting and on-shift coverage, review-by times: real sockets, real SQLite.

The server runs on 127.0.0.1 with a FakeClock set to a Friday night in
Shanghai, so the night shift (22:00-06:00) crosses midnight during a test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import ClientConnection

from tests.conftest import Account, FakeClock
from tests.web.api.test_scripts import BODY, Env, receive
from tests.web.cli.test_main import run_cli
from web.app import create_app
from web.auth import users
from web.compose import Part, build_services
from web.errors import ConfigError
from web.platform.settings import load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIFTS = [
    {"name": "早班", "start": "08:00", "end": "16:00", "weekdays": [1, 2, 3, 4, 5]},
    {"name": "夜班", "start": "22:00", "end": "06:00", "weekdays": [1, 2, 3, 4, 5]},
]


def local(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).timestamp()


FRIDAY_NIGHT = local("2026-03-13 23:30")


async def make_env(tmp_path: Path, **overrides: Any) -> AsyncIterator[Env]:
    clock = FakeClock(FRIDAY_NIGHT)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), **overrides)
    services = await build_services(settings.with_lists(shifts=SHIFTS), clock=clock, parts={Part.BROADCAST})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    now = clock()

    def seed(db: Any) -> list[Account]:
        made = []
        for name, role, team, shift in (("wang", "manager", "pr", ""), ("li", "manager", "service", ""),
                                        ("zhao", "manager", "pr", ""), ("zhang", "agent", "hotline", "夜班"),
                                        ("qian", "agent", "vip", "夜班")):
            user = users.add_user(db, name, role, f"pw-{name}-secret", team=team, shift=shift, now=now)
            made.append(Account(user, f"pw-{name}-secret", users.create_token(db, user, "test", now=now)))
        return made

    accounts = await services.db.write(seed)
    try:
        async with aiohttp.ClientSession() as http:
            yield Env(services, server, http, clock, *accounts)
    finally:
        await server.close()
        services.db.close()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for value in make_env(tmp_path):
        yield value


async def add_agent(env: Env, name: str, team: str, shift: str) -> Account:
    now = env.clock()

    def txn(db: Any) -> Account:
        user = users.add_user(db, name, "agent", f"pw-{name}-secret", team=team, shift=shift, now=now)
        return Account(user, f"pw-{name}-secret", users.create_token(db, user, "test", now=now))

    return await env.services.db.write(txn)


async def settle(ws: ClientConnection) -> None:
    """Every frame sent before has been handled by the hub once the pong comes back."""
    await ws.send(json.dumps({"type": "ping"}))
    await receive(ws, "pong")


async def test_copies_are_counted_per_agent_and_version_with_first_and_last_time(env: Env) -> None:
    hotline, vip = await env.ws(env.agent), await env.ws(env.vip)
    for ws in (hotline, vip):
        await receive(ws, "snapshot")
    live = await env.live()
    sid = live["id"]
    for ws in (hotline, vip):
        assert (await receive(ws, "publish"))["item"]["version"] == 1
    first = env.clock()
    for _ in range(3):  # the hotline agent answers three customers with it
        await hotline.send(json.dumps({"type": "copied", "id": sid, "version": 1}))
        await settle(hotline)
        env.clock.advance(10)
    await vip.send(json.dumps({"type": "copied", "id": sid, "version": 1}))
    await vip.send(json.dumps({"type": "copied", "id": 999, "version": 1}))  # unknown script: ignored
    await vip.send(json.dumps({"type": "copied", "id": sid, "version": 7}))  # a version it cannot have seen: ignored
    await vip.send(json.dumps({"type": "copied", "id": "x", "version": 1}))  # malformed: counted as bad, ignored
    await settle(vip)
    runtime = env.services.runtime
    assert await runtime.flush_receipts() == 4

    # v2 replaces it; copies of v2 count separately.
    await env.call("PUT", f"/api/scripts/{sid}", env.zhao, json={"body": BODY + "（更新）"})
    await env.call("POST", f"/api/scripts/{sid}/submit", env.zhao)
    await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, json={"version": 2})
    await env.call("POST", f"/api/scripts/{sid}/publish", env.wang)
    assert (await receive(hotline, "update"))["item"]["version"] == 2
    await hotline.send(json.dumps({"type": "copied", "id": sid, "version": 2}))
    await settle(hotline)
    await runtime.flush_receipts()

    v1 = await env.call("GET", f"/api/scripts/{sid}/coverage?version=1", env.wang)
    assert v1["copies"] == 4 and v1["copied_agents"] == 2
    assert v1["displayed_total"] == 2  # a copy implies the script was shown
    assert v1["by_team"]["hotline"]["copies"] == 3 and v1["by_team"]["hotline"]["copied_agents"] == 1
    assert v1["by_team"]["vip"]["copies"] == 1
    assert v1["copies_by_version"] == [{"version": 1, "copies": 4, "copied_agents": 2},
                                       {"version": 2, "copies": 1, "copied_agents": 1}]
    v2 = await env.call("GET", f"/api/scripts/{sid}/coverage", env.wang)
    assert v2["version"] == 2 and v2["copies"] == 1 and v2["copied_agents"] == 1
    rows = await env.services.db.read(lambda db: list(db.query(
        "select user_id, copies, first_copied_at, last_copied_at from broadcast_receipts "
        "where script_id = ? and version = 1 order by user_id", [sid])))
    assert [(r["user_id"], r["copies"]) for r in rows] == [(env.agent.user.id, 3), (env.vip.user.id, 1)]
    assert rows[0]["first_copied_at"] == first and rows[0]["last_copied_at"] == first + 20
    await env.call("GET", f"/api/scripts/{sid}/coverage", env.agent, 403)  # agents do not see coverage
    assert env.services.hub.stats.bad_messages == 1
    for ws in (hotline, vip):
        await ws.close()


async def test_copies_survive_a_failed_flush(env: Env) -> None:
    ws = await env.ws(env.agent)
    await receive(ws, "snapshot")
    sid = (await env.live())["id"]
    await receive(ws, "publish")
    await ws.send(json.dumps({"type": "copied", "id": sid, "version": 1}))
    await settle(ws)
    runtime = env.services.runtime
    scripts = env.services.scripts
    original = scripts.record_receipts

    async def broken(batch: Any) -> int:
        raise RuntimeError("database is locked")

    scripts.record_receipts = broken
    with pytest.raises(RuntimeError):
        await runtime.flush_receipts()
    scripts.record_receipts = original
    assert await runtime.flush_receipts() == 1  # kept for the next attempt, nothing lost
    assert (await env.call("GET", f"/api/scripts/{sid}/coverage", env.wang))["copies"] == 1
    await ws.close()


async def test_shift_targeting_comes_from_the_account(env: Env) -> None:
    day = await add_agent(env, "sun", "hotline", "早班")
    night, morning = await env.ws(env.agent), await env.ws(day)
    claimer = await env.ws(day, "&shift=夜班")  # a desktop cannot claim a shift
    for ws in (night, morning, claimer):
        await receive(ws, "snapshot")
    await env.live(title="夜班口径", audience={"shifts": ["夜班"]})
    await env.live(title="全体")
    assert (await receive(night, "publish"))["item"]["title"] == "夜班口径"
    assert (await receive(night, "publish"))["item"]["title"] == "全体"
    for ws in (morning, claimer):
        assert (await receive(ws, "publish"))["item"]["title"] == "全体"
    active = await env.call("GET", "/api/ticker/active", day)
    assert [i["title"] for i in active["items"]] == ["全体"]
    night_item = (await env.call("GET", "/api/ticker/active", env.agent))["items"][0]
    assert night_item["audience"] == {"everyone": False, "teams": [], "skills": [], "sites": [],
                                      "shifts": ["夜班"]}
    bad = await env.call("POST", "/api/scripts", env.wang, 400,
                         json={"title": "t", "body": "b", "audience": {"shifts": [""]}})
    assert "shifts" in bad["message_en"]
    typo = await env.call("POST", "/api/scripts", env.wang, 400,
                          json={"title": "t", "body": "b", "audience": {"shifts": ["夜斑"]}})
    assert "unknown shifts in audience: 夜斑" in typo["message_en"] and "夜班" in typo["message_en"]
    assert "班次未定义" in typo["message"]
    for ws in (night, morning, claimer):
        await ws.close()


async def test_on_shift_coverage_at_publish_time_across_midnight(env: Env) -> None:
    """Published Saturday 00:30: the Friday night shift is still on; two night agents, one connected."""
    await add_agent(env, "sun", "hotline", "早班")  # not on shift at night: not in the on-shift denominator
    await add_agent(env, "zhou", "hotline", "")  # no shift at all
    env.clock.now = local("2026-03-14 00:30")
    ws = await env.ws(env.agent)
    await receive(ws, "snapshot")
    sid = (await env.live())["id"]
    await receive(ws, "publish")
    env.clock.advance(2)
    await ws.send(json.dumps({"type": "displayed", "id": sid, "version": 1}))
    await settle(ws)
    await env.services.runtime.flush_receipts()
    env.clock.now = local("2026-03-14 09:00")  # the question is asked later: still "at publish time"
    coverage = await env.call("GET", f"/api/scripts/{sid}/coverage", env.wang)
    assert coverage["on_shift_at"] == local("2026-03-14 00:30") and coverage["shifts_on"] == ["夜班"]
    assert coverage["connected"] == 1 and coverage["displayed_pct"] == 100.0
    assert coverage["on_shift"] == 2 and coverage["displayed_on_shift"] == 1
    assert coverage["displayed_on_shift_pct"] == 50.0 and coverage["acked_on_shift_pct"] == 0.0
    assert coverage["by_team"]["hotline"]["on_shift"] == 1
    assert coverage["by_team"]["hotline"]["displayed_on_shift_pct"] == 100.0
    assert coverage["by_team"]["vip"]["on_shift"] == 1 and coverage["by_team"]["vip"]["displayed_on_shift"] == 0

    # Published Saturday 07:00: the night shift has ended and 早班 does not work Saturdays.
    env.clock.now = local("2026-03-14 07:00")
    later = await env.live(title="早上")
    quiet = await env.call("GET", f"/api/scripts/{later['id']}/coverage", env.wang)
    assert quiet["shifts_on"] == [] and quiet["on_shift"] == 0 and quiet["displayed_on_shift_pct"] is None
    await ws.close()


async def test_shifts_api_and_user_shift_field(env: Env) -> None:
    root = await env.services.db.write(lambda db: users.add_user(db, "root", "admin", "pw-root-secret", now=1.0))
    token = await env.services.db.write(lambda db: users.create_token(db, root, "t", now=1.0))
    admin = Account(root, "pw-root-secret", token)
    shifts = await env.call("GET", "/api/shifts", env.wang)
    assert [(s["name"], s["overnight"], s["active"]) for s in shifts["items"]] == [("早班", False, False),
                                                                                   ("夜班", True, True)]
    await env.call("GET", "/api/shifts", env.agent, 403)
    changed = await env.call("PATCH", f"/api/users/{env.agent.user.id}", admin, json={"shift": " 早班 "})
    assert changed["user"]["shift"] == "早班"
    refused = await env.call("PATCH", f"/api/users/{env.agent.user.id}", admin, 400, json={"shift": "午班"})
    assert "unknown shift '午班'" in refused["message"] and "早班, 夜班" in refused["message"]
    await env.call("PATCH", f"/api/users/{env.agent.user.id}", admin, 400, json={"shift": 3})
    listed = {u["name"]: u for u in (await env.call("GET", "/api/users", admin))["items"]}
    assert listed["zhang"]["shift"] == "早班" and listed["wang"]["shift"] == ""
    created = await env.call("POST", "/api/users", admin, 201, json={
        "name": "wu", "role": "agent", "password": "pw-wu-secret", "shift": "夜班"})
    assert created["user"]["shift"] == "夜班"
    await env.call("POST", "/api/users", admin, 400, json={
        "name": "zheng", "role": "agent", "password": "pw-zheng-secret", "shift": "晚班"})
    assert "zheng" not in {u["name"] for u in (await env.call("GET", "/api/users", admin))["items"]}
    cleared = await env.call("PATCH", f"/api/users/{env.agent.user.id}", admin, json={"shift": ""})
    assert cleared["user"]["shift"] == ""


async def test_review_by_explicit_default_and_stale_hint(tmp_path: Path) -> None:
    async for env in make_env(tmp_path, broadcast__review_hours=["critical:2", "high:0"]):
        ws = await env.ws(env.agent)
        snapshot = await receive(ws, "snapshot")
        assert snapshot["stale_after_s"] == 60.0  # broadcast.stale_after_s, told to every client
        now = env.clock()
        past = await env.call("POST", "/api/scripts", env.wang, 400,
                              json={"title": "t", "body": "b", "review_by": now - 1})
        assert past["message"] == "复核期限已经过去" and past["message_en"] == "review_by is in the past"
        await env.call("POST", "/api/scripts", env.wang, 400, json={"title": "t", "body": "b", "review_by": "明天"})

        critical = await env.live(title="紧急", priority="critical")
        assert critical["review_by"] == now + 2 * 3600 and critical["review_by_default"] is True
        assert (await receive(ws, "publish"))["item"]["review_by"] == now + 2 * 3600
        high = await env.live(title="无默认", priority="high")
        assert high["review_by"] is None  # high:0 means no default
        own = await env.live(title="自定", priority="critical", review_by=now + 600)
        assert own["review_by"] == now + 600 and own["review_by_default"] is False
        snapshot = await receive(await env.ws(env.agent), "snapshot")
        assert {i["title"]: i["review_by"] for i in snapshot["items"]} == {
            "紧急": now + 7200, "无默认": None, "自定": now + 600}

        # An approved version whose review time passed is not published; editing it clears the passed time.
        draft = await env.call("POST", "/api/scripts", env.wang, 201,
                               json={"title": "慢", "body": BODY, "review_by": now + 60})
        await env.call("POST", f"/api/scripts/{draft['id']}/submit", env.wang)
        await env.call("POST", f"/api/scripts/{draft['id']}/approve", env.li, json={"version": 1})
        env.clock.advance(61)
        refused = await env.call("POST", f"/api/scripts/{draft['id']}/publish", env.li, 409)
        assert "复核期限已过" in refused["message"]
        edited = await env.call("PUT", f"/api/scripts/{draft['id']}", env.wang, json={"body": BODY + "。"})
        assert edited["version"] == 2 and edited["review_by"] is None
        renewed = await env.call("PUT", f"/api/scripts/{draft['id']}", env.wang,
                                 json={"review_by": env.clock() + 3600})
        assert renewed["review_by"] == env.clock() + 3600
        await ws.close()


async def test_copy_of_shift_targeted_script_counts_for_its_team(env: Env) -> None:
    ws = await env.ws(env.agent)
    await receive(ws, "snapshot")
    sid = (await env.live(audience={"shifts": ["夜班"]}))["id"]
    await receive(ws, "publish")
    await ws.send(json.dumps({"type": "copied", "id": sid, "version": 1}))
    await settle(ws)
    await env.services.runtime.flush_receipts()
    coverage = await env.call("GET", f"/api/scripts/{sid}/coverage", env.wang)
    assert coverage["audience"]["shifts"] == ["夜班"] and coverage["on_shift"] == 2
    assert coverage["copies"] == 1 and coverage["by_team"]["hotline"]["copies"] == 1
    await ws.close()


@pytest.mark.parametrize(("overrides", "lists", "message"), [
    ({"broadcast__stale_after_s": 20}, {}, "must be longer than broadcast.ping_interval_s"),
    ({"broadcast__review_hours": ["urgent:2"]}, {}, "is not PRIORITY:HOURS"),
    ({"broadcast__review_hours": ["high:soon"]}, {}, "is not PRIORITY:HOURS"),
    ({"broadcast__review_hours": ["high:nan"]}, {}, "is not PRIORITY:HOURS"),
    ({}, {"shifts": [{"name": "夜班", "start": "22:00"}]}, "[[shifts]] '夜班': end is required"),
    ({"monitor__timezone": "Mars/Olympus"}, {"shifts": SHIFTS}, "unknown time zone"),
])
async def test_bad_settings_stop_the_start_with_a_reason(tmp_path: Path, overrides: dict[str, Any],
                                                         lists: dict[str, Any], message: str) -> None:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), **overrides)
    with pytest.raises(ConfigError) as error:
        await build_services(settings.with_lists(**lists), parts={Part.BROADCAST})
    assert message in str(error.value)


def test_cli_user_add_with_a_shift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("LANTERN_"):
            monkeypatch.delenv(name)
    (tmp_path / "lantern.toml").write_text(
        '[[shifts]]\nname = "早班"\nstart = "08:00"\nend = "16:00"\n', encoding="utf-8")
    assert run_cli("user", "add", "sun", "--role", "agent", "--shift", "早班", "--password-stdin",
                   stdin="a-long-password\n") == 0
    assert run_cli("user", "add", "wu", "--role", "agent", "--shift", "晚班", "--password-stdin",
                   stdin="a-long-password\n") == 2
    err = capsys.readouterr().err
    assert "unknown shift '晚班'; defined shifts: 早班" in err and "Traceback" not in err
    import sqlite3

    db = sqlite3.connect(tmp_path / "var" / "lantern.db")
    assert list(db.execute("select name, shift from users order by name")) == [("sun", "早班")]


def test_audience_json_round_trip_keeps_shifts() -> None:
    from broadcast.model import Audience, Viewer

    audience = Audience.parse({"shifts": ["夜班"]})
    assert not audience.everyone and Audience.parse(json.loads(json.dumps(audience.as_dict()))) == audience
    assert audience.matches(Viewer(1, "agent", "hotline", shift="夜班"))
    assert not audience.matches(Viewer(2, "agent", "hotline"))  # no shift never matches a shift audience
