"""The ``[[shifts]]`` of the settings as a calendar, and checking an account's shift against it."""

from __future__ import annotations

from broadcast.shifts import ShiftCalendar, ShiftError, parse_shifts
from web.errors import AuthError, ConfigError
from web.platform.settings import Settings


def calendar_from(settings: Settings) -> ShiftCalendar:
    """The configured shifts in ``monitor.timezone``; raises ConfigError naming the bad table."""
    try:
        return parse_shifts(settings.lists["shifts"], settings["monitor.timezone"])
    except ShiftError as exc:
        raise ConfigError(str(exc)) from None


def check_shift(settings: Settings, value: str) -> str:
    """An account's shift: "" (none) or the name of a configured shift; raises AuthError otherwise."""
    name = value.strip()
    if not name:
        return ""
    names = calendar_from(settings).names
    if name not in names:
        defined = ", ".join(names) if names else "none ([[shifts]] in lantern.toml)"
        raise AuthError(f"unknown shift {name!r}; defined shifts: {defined}")
    return name
