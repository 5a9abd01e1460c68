"""quiet_on_holidays: the chinese-calendar data, rest days on an injected clock, and the engine holding alerts.

The dates were checked against chinese-calendar 1.11's tables: 2025-10-01 (Wednesday) is National Day;
2025-09-28 (Sunday) and 2025-10-11 (Saturday) are 调休 working days; 2025-10-12 is an ordinary Sunday.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.alerting.errors import CalendarError
from monitor.alerting.holidays import ChineseCalendarData, RestDays
from monitor.alerting.outbox import list_deliveries
from tests.fixtures.alerts.helpers import Clock, Robot, add_user, make_services, settings_for, store_mention
from web.api.alerts import _routing

SHANGHAI = ZoneInfo("Asia/Shanghai")
STORY = "鲜味楼外卖吃出异物，顾客投诉无人处理"


def at(day: str, hour: int = 10, minute: int = 0) -> float:
    """Epoch of ``day`` at ``hour:minute`` Shanghai time."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=SHANGHAI).timestamp()


@pytest.mark.parametrize(("day", "weekday", "rest", "holiday", "adjusted"), [
    ("2025-10-01", 2, True, "National Day", False),  # the holiday itself
    ("2025-10-08", 2, True, "National Day", True),  # a weekday off, paid back on 2025-09-28 / 10-11
    ("2025-09-28", 6, False, "National Day", True),  # 调休: a Sunday at work
    ("2025-10-11", 5, False, "National Day", True),  # 调休: a Saturday at work
    ("2025-10-12", 6, True, "", False),  # an ordinary Sunday
    ("2025-10-09", 3, False, "", False),  # an ordinary Thursday
])
def test_the_package_data_for_known_dates(day: str, weekday: int, rest: bool, holiday: str, adjusted: bool) -> None:
    found = ChineseCalendarData().lookup(date.fromisoformat(day))
    assert found.day.weekday() == weekday
    assert (found.rest, found.holiday, found.adjusted) == (rest, holiday, adjusted)


def test_a_year_without_data_is_an_error_naming_the_covered_years() -> None:
    data = ChineseCalendarData()
    first, last = data.years
    assert first <= 2025 <= last
    for year in (first - 1, last + 1):
        with pytest.raises(CalendarError) as info:
            data.lookup(date(year, 6, 1))  # a Monday or not, never guessed
        assert str(year) in str(info.value) and f"{first}-{last}" in str(info.value)
        assert "quiet_on_holidays" in str(info.value)


def test_rest_days_use_the_injected_clock_and_the_local_date() -> None:
    clock = Clock(at("2025-09-30", 23, 30))
    days = RestDays(ChineseCalendarData(), tz=SHANGHAI, clock=clock)
    assert not days.is_rest_day()  # 23:30 on a workday
    clock.advance(3600)  # 00:30 on 10-01 Shanghai, still 09-30 in UTC
    assert days.is_rest_day() and days.today().holiday == "National Day"
    assert not days.is_rest_day(at("2025-09-28")) and not days.is_rest_day(at("2025-10-11"))
    assert days.is_rest_day(at("2025-10-12"))


@pytest.fixture
async def make(tmp_path: Path, robot: Robot) -> AsyncIterator[Callable[..., Any]]:
    made: list[Any] = []

    async def build(start: float, **overrides: Any) -> Any:
        settings = settings_for(tmp_path, channels=[{"name": "hook", "kind": "webhook", "url": robot.url("/hook")}],
                                routes=[{"channels": ["hook"]}], incidents__group_wait_s=0, **overrides)
        svc = await make_services(settings, Clock(start))
        made.append(svc)
        return svc

    yield build
    for svc in made:
        await svc.alerts.stop()
        svc.db.close()


async def open_incident(svc: Any, tier: str, title: str = STORY) -> int:
    m = await store_mention(svc, title=title, tier=tier, categories=("food_safety",))
    return int((await svc.incidents.on_mentions([m]))[0].incident_id)


async def statuses(svc: Any, incident_id: int) -> list[tuple[str, float | None]]:
    rows = await svc.db.read(lambda db: list_deliveries(db, incident_id=incident_id))
    return [(r["status"], r["deliver_after"]) for r in rows]


async def test_holiday_holds_p2_for_the_digest_but_never_p1(make: Any, robot: Robot) -> None:
    svc = await make(at("2025-10-01"), incidents__quiet_on_holidays=True)
    p2 = await open_incident(svc, "P2")
    p1 = await open_incident(svc, "P1", title="央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖")
    await svc.alerts.tick(svc.clock.now + 1)
    assert [(r["json"]["event"], r["json"]["incident_id"]) for r in robot.requests] == [("open", p1)]
    assert await statuses(svc, p2) == [("digest", at("2025-10-02", 9))]  # the next daily digest, 09:00
    await svc.alerts.tick(at("2025-10-02", 9))
    assert robot.requests[-1]["json"]["event"] == "digest"
    assert [i["id"] for i in robot.requests[-1]["json"]["incident"]["items"]] == [p2]


@pytest.mark.parametrize(("day", "held"), [
    ("2025-09-28", False),  # 调休 Sunday: a workday, alerts go out
    ("2025-10-11", False),  # 调休 Saturday
    ("2025-10-12", True),  # an ordinary Sunday is a rest day
    ("2025-10-09", False),  # an ordinary Thursday
])
async def test_adjusted_working_weekends_count_as_workdays(make: Any, robot: Robot, day: str, held: bool) -> None:
    svc = await make(at(day), incidents__quiet_on_holidays=True)
    iid = await open_incident(svc, "P2")
    await svc.alerts.tick(svc.clock.now + 1)
    assert [s for s, _ in await statuses(svc, iid)] == (["digest"] if held else ["sent"])
    assert len(robot.requests) == (0 if held else 1)


async def test_off_by_default(make: Any, robot: Robot) -> None:
    svc = await make(at("2025-10-01"))
    iid = await open_incident(svc, "P2")
    await svc.alerts.tick(svc.clock.now + 1)
    assert [s for s, _ in await statuses(svc, iid)] == ["sent"]
    assert svc.alerts.rest_days is None


def test_the_data_running_out_is_warned_thirty_days_ahead() -> None:
    last = ChineseCalendarData().years[1]
    clock = Clock(at(f"{last}-11-30", 23, 59))
    days = RestDays(ChineseCalendarData(), tz=SHANGHAI, clock=clock)
    assert days.expiry_warning() == ""  # 31 days left
    clock.now = at(f"{last}-12-01", 0, 1)
    assert f"{last}-12-31" in days.expiry_warning() and "30" in days.expiry_warning()
    assert "1 days" in days.expiry_warning(at(f"{last}-12-30"))
    assert days.expiry_warning(at(f"{last + 1}-01-01")) == ""  # past the data: that is the error instead


async def test_the_routing_view_and_the_log_warn_before_the_data_ends(make: Any,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    last = ChineseCalendarData().years[1]
    with caplog.at_level(logging.WARNING, logger="monitor.alerting.quiet"):
        svc = await make(at(f"{last}-12-10"), incidents__quiet_on_holidays=True)
        await svc.alerts.tick(svc.clock.now + 1)
    calendar = _routing(svc)["holiday_calendar"]
    assert calendar["error"] == "" and "21" in calendar["warning"] and calendar["data_ends"] == f"{last}-12-31"
    assert [r.getMessage() for r in caplog.records] == [calendar["warning"]]  # logged once for the day


async def test_an_uncovered_year_starts_and_says_so(make: Any, robot: Robot,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    last = ChineseCalendarData().years[1]
    with caplog.at_level(logging.WARNING, logger="monitor.alerting.quiet"):
        svc = await make(at(f"{last + 1}-03-01"), incidents__quiet_on_holidays=True)  # a Saturday, or not
    assert [r.levelno for r in caplog.records if f"{last + 1}" in r.getMessage()] == [logging.WARNING]
    assert f"{last + 1}" in svc.alerts.calendar_error and "chinese-calendar" in svc.alerts.calendar_error
    calendar = _routing(svc)["holiday_calendar"]
    assert calendar["error"] == svc.alerts.calendar_error and calendar["years"][1] == last
    iid = await open_incident(svc, "P3")
    await svc.alerts.tick(svc.clock.now + 1)
    assert [s for s, _ in await statuses(svc, iid)] == ["sent"]  # a workday for holiday purposes
    assert len(robot.requests) == 1


async def test_quiet_hours_still_hold_in_an_uncovered_year(make: Any, robot: Robot) -> None:
    last = ChineseCalendarData().years[1]
    svc = await make(at(f"{last + 1}-03-02", 23), incidents__quiet_on_holidays=True,
                     incidents__quiet_hours="22:00-08:00")
    iid = await open_incident(svc, "P2")
    await svc.alerts.tick(svc.clock.now + 1)
    assert await statuses(svc, iid) == [("digest", at(f"{last + 1}-03-03", 8))]


async def test_running_into_an_uncovered_year_alerts_once_and_never_holds(
        make: Any, robot: Robot, caplog: pytest.LogCaptureFixture) -> None:
    last = ChineseCalendarData().years[1]
    svc = await make(at(f"{last}-12-31", 23, 50), incidents__quiet_on_holidays=True)
    await add_user(svc, "duty", "oncall")
    assert svc.alerts.calendar_error == "" and f"{last}-12-31" in svc.alerts.calendar_warning
    svc.clock.now = at(f"{last + 1}-01-01", 10)  # New Year's Day, but the data ends: not guessed, not held
    iid = await open_incident(svc, "P2")
    with caplog.at_level(logging.WARNING, logger="monitor.alerting.quiet"):
        await svc.alerts.tick(svc.clock.now + 1)
        await svc.alerts.tick(svc.clock.now + 2)
        assert sum(f"{last + 1}" in r.getMessage() for r in caplog.records) == 1  # once today, not every tick
        svc.clock.now = at(f"{last + 1}-01-02", 0, 5)
        await svc.alerts.tick()
        await svc.alerts.tick(svc.clock.now + 60)
        assert sum(f"{last + 1}" in r.getMessage() for r in caplog.records) == 2  # and once more the next day
    assert {s for s, _ in await statuses(svc, iid)} == {"sent"}  # the alert, then its repeat: none held
    assert f"{last + 1}" in svc.alerts.calendar_error and svc.alerts.calendar_warning == ""
    health = await svc.db.read(lambda db: list_deliveries(db, recipient="user:duty"))
    assert [(h["kind"], h["status"]) for h in health] == [("health", "sent")]
    payload = await svc.db.read(lambda db: db.execute(
        "select payload from alert_deliveries where id = ?", [health[0]["id"]]).fetchone()[0])
    assert f"{last + 1}" in json.loads(payload)["message"]

    # A restart a day later (past repeat_interval) does not tell on-call again about the same year.
    await svc.alerts.stop()
    svc.db.close()
    again = await make(at(f"{last + 1}-01-03", 10), incidents__quiet_on_holidays=True)
    await again.alerts.tick(again.clock.now + 1)
    assert len(await again.db.read(lambda db: list_deliveries(db, recipient="user:duty"))) == 1
