"""Local-time windows: quiet hours, the daily digest time, daily maintenance windows; the quiet rules."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import AlertConfigError, CalendarError
from .holidays import RestDays

log = logging.getLogger(__name__)


def parse_clock(text: str, what: str) -> time:
    try:
        hour, minute = (int(x) for x in text.strip().split(":"))
        return time(hour, minute)
    except ValueError:
        raise AlertConfigError(f"{what}: {text!r} 不是 HH:MM (expected HH:MM)") from None


def parse_window(text: str, what: str) -> tuple[time, time] | None:
    """``"22:00-08:00"`` -> (start, end); empty -> None.  A window may cross midnight."""
    if not text.strip():
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise AlertConfigError(f"{what}: {text!r} 不是 HH:MM-HH:MM (expected HH:MM-HH:MM)")
    return parse_clock(start, what), parse_clock(end, what)


def in_window(now: float, window: tuple[time, time] | None, tz: ZoneInfo) -> bool:
    if window is None:
        return False
    local = datetime.fromtimestamp(now, tz).time()
    start, end = window
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def window_end(now: float, window: tuple[time, time], tz: ZoneInfo) -> float:
    """Epoch of the end of the window ``now`` is in (or the next end)."""
    return next_at(now, window[1], tz)


def next_at(now: float, at: time, tz: ZoneInfo) -> float:
    """The next epoch (strictly after ``now``) at local time ``at``."""
    local = datetime.fromtimestamp(now, tz)
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate.timestamp() <= now:
        candidate = (local + timedelta(days=1)).replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate.timestamp()


class QuietRules:
    """When alerts below P1 wait for a digest: inside quiet hours, and on rest days if ``rest_days`` is given.

    A rest-day question the calendar cannot answer (a year it has no data for)
    counts as a workday, so alerts go out at once and nothing is held for a
    holiday.  The reason is kept in ``error`` (for the engine's on-call alert
    and the routing view) and logged as a warning once per local day; so is
    the ``warning`` that the data runs out soon (:meth:`check_calendar`).
    """

    def __init__(self, hours: tuple[time, time] | None, digest_at: time, tz: ZoneInfo,
                 rest_days: RestDays | None = None) -> None:
        self.hours = hours
        self.digest_at = digest_at
        self.tz = tz
        self.rest_days = rest_days
        self.error = ""
        self.warning = ""
        self._logged: dict[str, tuple[date, str]] = {}  # "error" / "warning" -> (local day, text) last logged

    def _log_daily(self, what: str, text: str, now: float) -> None:
        day = datetime.fromtimestamp(now, self.tz).date()
        if text and self._logged.get(what) != (day, text):
            log.warning("%s", text)
            self._logged[what] = (day, text)

    def check_calendar(self, now: float) -> None:
        """Refresh ``error`` and ``warning`` for the local date at ``now`` (each logged once a day)."""
        if self.rest_days is None:
            return
        self.rest_day(now)
        self.warning = self.rest_days.expiry_warning(now)
        self._log_daily("warning", self.warning, now)

    def rest_day(self, now: float) -> bool:
        if self.rest_days is None:
            return False
        try:
            rest = self.rest_days.is_rest_day(now)
        except CalendarError as exc:
            self.error = str(exc)
            self._log_daily("error", self.error, now)
            return False  # unknown year: a workday for holiday purposes, never a held alert
        self.error = ""
        return rest

    def active(self, now: float) -> bool:
        return in_window(now, self.hours, self.tz) or self.rest_day(now)

    def hold_until(self, tier: str, now: float) -> float | None:
        """When an alert of ``tier`` planned at ``now`` goes out in a digest, or None to send it now (P1 always)."""
        if tier == "P1":
            return None
        if self.hours is not None and in_window(now, self.hours, self.tz):
            return window_end(now, self.hours, self.tz)
        if self.rest_day(now):
            return next_at(now, self.digest_at, self.tz)
        return None
