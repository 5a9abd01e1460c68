"""Shifts (班次): named local working hours, and which of them are on at a given moment (pure).

A shift is a name, a local start and end time and the weekdays it *starts* on,
all in one time zone.  A shift whose end is not after its start crosses
midnight: ``22:00-06:00`` on Friday runs from Friday 22:00 until Saturday
06:00, so at Saturday 05:59 it is still on even if Saturday is not one of its
days.  The start is included and the end is not.

Nothing here reads the clock: callers pass epoch seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALL_DAYS = frozenset(range(1, 8))  # ISO weekdays: 1 = Monday ... 7 = Sunday
_ENGLISH = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {**{d: i for i, d in enumerate(_ENGLISH, 1)}, **{d[:3]: i for i, d in enumerate(_ENGLISH, 1)},
              "周一": 1, "周二": 2, "周三": 3, "周四": 4, "周五": 5, "周六": 6, "周日": 7, "周天": 7}
# Every key of a [[shifts]] table with its help for users (the commented lantern.toml is written from it).
SHIFT_KEYS: dict[str, str] = {
    "name": "Name agents' accounts refer to (lantern user add --shift 早班), e.g. \"早班\".",
    "start": 'Local start time HH:MM (in monitor.timezone), e.g. "08:00".',
    "end": 'Local end time HH:MM; an end not after the start crosses midnight ("22:00" to "06:00").',
    "weekdays": "Days the shift starts on: 1 = Monday ... 7 = Sunday, or mon..sun / 周一..周日 (default: every day).",
}
_KEYS = set(SHIFT_KEYS)
MAX_NAME = 64


class ShiftError(ValueError):
    """A ``[[shifts]]`` table is invalid; the message names the shift and the key."""


@dataclass(frozen=True)
class Shift:
    name: str
    start: time
    end: time
    weekdays: frozenset[int] = ALL_DAYS

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def active_at(self, local: datetime) -> bool:
        """Is the shift on at this local wall-clock time?"""
        now = local.time().replace(tzinfo=None)
        if not self.overnight:
            return local.isoweekday() in self.weekdays and self.start <= now < self.end
        if now >= self.start:
            return local.isoweekday() in self.weekdays
        yesterday = (local - timedelta(days=1)).isoweekday()
        return now < self.end and yesterday in self.weekdays

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M"),
                "weekdays": sorted(self.weekdays), "overnight": self.overnight}


@dataclass(frozen=True)
class ShiftCalendar:
    """Every configured shift, in one time zone."""

    shifts: tuple[Shift, ...] = ()
    timezone: str = "Asia/Shanghai"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.shifts)

    def __bool__(self) -> bool:
        return bool(self.shifts)

    def active(self, at: float) -> frozenset[str]:
        """Names of the shifts that are on at epoch seconds ``at``."""
        local = datetime.fromtimestamp(at, ZoneInfo(self.timezone))
        return frozenset(s.name for s in self.shifts if s.active_at(local))

    def as_dicts(self, at: float | None = None) -> list[dict[str, Any]]:
        on = self.active(at) if at is not None else frozenset()
        return [{**s.as_dict(), **({"active": s.name in on} if at is not None else {})} for s in self.shifts]


def _clock(value: Any, where: str) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            hours, minutes = value.strip().split(":")
            if len(minutes) == 2 and hours.isdigit() and minutes.isdigit():
                return time(int(hours), int(minutes))
        except ValueError:
            pass
    raise ShiftError(f"{where} must be a local time HH:MM (00:00-23:59), got {value!r}")


def _days(value: Any, where: str) -> frozenset[int]:
    if value is None:
        return ALL_DAYS
    if not isinstance(value, list) or not value:
        raise ShiftError(f"{where} must be a non-empty list of weekdays (1-7 or mon..sun)")
    days: set[int] = set()
    for day in value:
        if isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
            days.add(day)
        elif isinstance(day, str) and day.strip().lower() in _DAY_NAMES:
            days.add(_DAY_NAMES[day.strip().lower()])
        else:
            raise ShiftError(f"{where}: {day!r} is not a weekday (1 = Monday ... 7 = Sunday, or mon..sun)")
    return frozenset(days)


def parse_shifts(tables: Iterable[Mapping[str, Any]], timezone: str) -> ShiftCalendar:
    """``[[shifts]]`` tables -> a calendar; raises ShiftError naming the shift and the key."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ShiftError(f"unknown time zone {timezone!r} for [[shifts]]") from None
    shifts: list[Shift] = []
    for index, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise ShiftError(f"[[shifts]] #{index} must be a table")
        name = table.get("name")
        where = f"[[shifts]] #{index}"
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME or "," in name:
            raise ShiftError(f"{where}: name must be 1-{MAX_NAME} characters without commas")
        name = name.strip()
        where = f"[[shifts]] {name!r}"
        unknown = set(table) - _KEYS
        if unknown:
            raise ShiftError(f"{where}: 未知键 {', '.join(sorted(unknown))} (unknown key); "
                             f"可用的键 (valid keys): {', '.join(SHIFT_KEYS)}")
        if any(s.name == name for s in shifts):
            raise ShiftError(f"{where} is defined twice")
        for key in ("start", "end"):
            if key not in table:
                raise ShiftError(f"{where}: {key} is required (HH:MM, local time)")
        start, end = _clock(table["start"], f"{where}: start"), _clock(table["end"], f"{where}: end")
        if start == end:
            raise ShiftError(f"{where}: start and end are the same time")
        shifts.append(Shift(name, start, end, _days(table.get("weekdays"), f"{where}: weekdays")))
    return ShiftCalendar(tuple(shifts), timezone)
