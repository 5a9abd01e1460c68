"""Shift calendar (pure): day shifts, a night shift across midnight, weekdays, time zone, bad tables."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from broadcast.shifts import ShiftError, parse_shifts

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLES = [
    {"name": "早班", "start": "08:00", "end": "16:00", "weekdays": [1, 2, 3, 4, 5]},
    {"name": "中班", "start": "16:00", "end": "23:00"},
    {"name": "夜班", "start": "22:00", "end": "06:00", "weekdays": ["fri", "sat"]},
]


def at(text: str) -> float:
    """Epoch seconds of a Shanghai wall-clock time, e.g. "2026-03-13 22:30" (a Friday)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).timestamp()


def test_day_shift_start_included_end_excluded_and_weekdays() -> None:
    calendar = parse_shifts(TABLES, "Asia/Shanghai")
    assert calendar.names == ("早班", "中班", "夜班")
    assert calendar.active(at("2026-03-13 07:59")) == frozenset()  # Friday
    assert calendar.active(at("2026-03-13 08:00")) == {"早班"}
    assert calendar.active(at("2026-03-13 15:59")) == {"早班"}
    assert calendar.active(at("2026-03-13 16:00")) == {"中班"}
    assert calendar.active(at("2026-03-14 09:00")) == frozenset()  # Saturday: no 早班


def test_night_shift_crosses_midnight_and_belongs_to_the_day_it_starts() -> None:
    calendar = parse_shifts(TABLES, "Asia/Shanghai")
    assert calendar.active(at("2026-03-12 22:30")) == {"中班"}  # Thursday night: 夜班 only Fri/Sat
    assert calendar.active(at("2026-03-13 22:30")) == {"中班", "夜班"}  # Friday 22:30, both on
    assert calendar.active(at("2026-03-14 00:00")) == {"夜班"}  # Saturday 00:00: Friday's night shift
    assert calendar.active(at("2026-03-14 05:59")) == {"夜班"}
    assert calendar.active(at("2026-03-14 06:00")) == frozenset()
    assert calendar.active(at("2026-03-15 05:00")) == {"夜班"}  # Sunday morning: Saturday's night shift
    assert calendar.active(at("2026-03-16 05:00")) == frozenset()  # Monday morning: Sunday has none
    night = calendar.as_dicts(at("2026-03-14 01:00"))[2]
    assert night == {"name": "夜班", "start": "22:00", "end": "06:00", "weekdays": [5, 6], "overnight": True,
                     "active": True}


def test_time_zone_is_the_calendars() -> None:
    utc = parse_shifts([{"name": "早班", "start": "08:00", "end": "16:00"}], "UTC")
    shanghai = parse_shifts([{"name": "早班", "start": "08:00", "end": "16:00"}], "Asia/Shanghai")
    moment = at("2026-03-13 09:00")  # 01:00 UTC
    assert shanghai.active(moment) == {"早班"} and utc.active(moment) == frozenset()


@pytest.mark.parametrize(("tables", "message"), [
    ([{"name": "早班", "start": "8点", "end": "16:00"}], "start must be a local time HH:MM"),
    ([{"name": "早班", "start": "24:00", "end": "16:00"}], "start must be a local time"),
    ([{"name": "早班", "end": "16:00"}], "start is required"),
    ([{"name": "早班", "start": "08:00", "end": "08:00"}], "start and end are the same"),
    ([{"name": "早班", "start": "08:00", "end": "16:00", "weekdays": [0]}], "is not a weekday"),
    ([{"name": "早班", "start": "08:00", "end": "16:00", "weekdays": []}], "non-empty list"),
    ([{"name": "早班", "start": "08:00", "end": "16:00", "days": [1]}],
     r"未知键 days \(unknown key\); 可用的键 \(valid keys\): name, start, end, weekdays"),
    ([{"name": "", "start": "08:00", "end": "16:00"}], "name must be"),
    ([{"name": "a,b", "start": "08:00", "end": "16:00"}], "without commas"),
    ([{"name": "早班", "start": "08:00", "end": "16:00"}] * 2, "defined twice"),
])
def test_bad_tables_are_refused_with_the_shift_and_key(tables: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ShiftError, match=message):
        parse_shifts(tables, "Asia/Shanghai")


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ShiftError, match="unknown time zone"):
        parse_shifts([], "Mars/Olympus")
