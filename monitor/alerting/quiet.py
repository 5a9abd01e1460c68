"""Local-time windows: quiet hours, the daily digest time, daily maintenance windows (pure)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import AlertConfigError


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
