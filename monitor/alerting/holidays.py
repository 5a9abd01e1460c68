"""Rest days of mainland China for quiet hours: statutory holidays and weekends, minus 调休 working weekends.

``quiet_on_holidays`` holds alerts below P1 for the daily digest on rest days.
The dates come from a :class:`HolidayData` (by default :class:`ChineseCalendarData`,
the offline tables of the ``chinese-calendar`` package, which the State
Council publishes one year at a time); :class:`RestDays` turns the injected
clock's epoch into the local date and asks it.  A year the data does not
cover raises :class:`~monitor.alerting.errors.CalendarError` naming the years
it does cover: a missing year's holidays are never guessed.  The quiet rules
then count every day of that year as a workday (alerts go out at once, none
is held for a holiday) and say so loudly; :meth:`RestDays.expiry_warning`
warns :data:`WARN_DAYS` days before the data runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from .errors import CalendarError

WARN_DAYS = 30  # warn this many days before the calendar's last covered day


@dataclass(frozen=True)
class Day:
    """What the calendar says about one date."""

    day: date
    rest: bool  # nobody is expected at work: a statutory holiday, or a weekend that is not a 调休 workday
    holiday: str = ""  # the festival a rest day (or a 调休 workday) belongs to, "" for an ordinary day
    adjusted: bool = False  # a weekend made a workday (调休), or a weekday given as a day off for a festival


class HolidayData(Protocol):
    """The calendar source: the covered years and one lookup."""

    @property
    def years(self) -> tuple[int, int]: ...

    def lookup(self, day: date) -> Day: ...


class ChineseCalendarData:
    """The ``chinese-calendar`` package's tables (statutory holidays, 调休 workdays, in-lieu days)."""

    def __init__(self) -> None:
        import chinese_calendar

        self._cc = chinese_calendar
        self.version = str(getattr(chinese_calendar, "__version__", "?"))
        known = [*chinese_calendar.holidays, *chinese_calendar.workdays]
        self._years = (min(d.year for d in known), max(d.year for d in known))

    @property
    def years(self) -> tuple[int, int]:
        return self._years

    def lookup(self, day: date) -> Day:
        first, last = self._years
        if not first <= day.year <= last:
            raise CalendarError(
                f"节假日日历没有 {day.year} 年的数据（chinese-calendar {self.version} 覆盖 {first}–{last} 年），"
                f"在此期间每天都按工作日处理、告警立即发送；请升级该软件包或关闭 incidents.quiet_on_holidays "
                f"(the holiday calendar has no data for {day.year}: chinese-calendar {self.version} covers "
                f"{first}-{last}; until then every day counts as a workday and alerts go out at once; "
                f"upgrade the package or turn incidents.quiet_on_holidays off)")
        workday = bool(self._cc.is_workday(day))
        _, name = self._cc.get_holiday_detail(day)
        weekend = day.weekday() >= 5
        adjusted = (workday and weekend) or bool(self._cc.is_in_lieu(day))
        return Day(day, rest=not workday, holiday=str(name or ""), adjusted=adjusted)


class RestDays:
    """Is it a rest day where Lantern's managers live, now?  Local dates from an injected clock."""

    def __init__(self, data: HolidayData, *, tz: ZoneInfo, clock: Callable[[], float]) -> None:
        self.data = data
        self.tz = tz
        self.clock = clock

    def local_date(self, now: float | None = None) -> date:
        return datetime.fromtimestamp(self.clock() if now is None else now, self.tz).date()

    def today(self, now: float | None = None) -> Day:
        """The calendar's answer for the local date at ``now`` (the clock's time by default)."""
        return self.data.lookup(self.local_date(now))

    def is_rest_day(self, now: float | None = None) -> bool:
        return self.today(now).rest

    def expiry_warning(self, now: float | None = None) -> str:
        """A warning when the data ends within :data:`WARN_DAYS` days of the local date at ``now``, else ""."""
        first, last = self.data.years
        today = self.local_date(now)
        if not first <= today.year <= last:
            return ""  # outside the data: that is the error, not this warning
        left = (date(last, 12, 31) - today).days
        if left > WARN_DAYS:
            return ""
        return (f"节假日日历数据只到 {last}-12-31（还剩 {left} 天）：请升级 chinese-calendar；"
                f"之后的日子都按工作日处理，告警不会因节假日暂缓 "
                f"(the holiday calendar's data ends on {last}-12-31, in {left} days: upgrade chinese-calendar; "
                f"after that every day counts as a workday and no alert is held for a holiday)")

    def describe(self) -> dict[str, object]:
        first, last = self.data.years
        return {"years": [first, last], "data_ends": f"{last}-12-31"}
