"""Each part's configuration, read from the settings (a bad value is a :class:`web.errors.ConfigError`).

``[incidents]`` scalars and the ``[[channels]]``, ``[[routes]]`` and ``[[plans]]`` tables are documented in
``monitor/channels/registry.py``, ``monitor/alerting/routing.py`` and ``monitor/plans.py``; ``broadcast.*`` in
``broadcast/``; ``monitor.*`` and ``network.*`` in ``monitor/config.py`` and ``monitor/netguard.py``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from broadcast.lifecycle import ApprovalPolicy
from broadcast.model import PRIORITIES
from monitor.alerting.engine import AlertConfig
from monitor.alerting.errors import AlertConfigError
from monitor.alerting.nflog import Timing
from monitor.alerting.quiet import parse_clock, parse_window
from monitor.alerting.routing import Route, describe_gaps, parse_routes
from monitor.config import Defaults
from monitor.incidents.engine import IncidentConfig
from monitor.incidents.errors import InvalidTierError
from monitor.incidents.tiering import parse_tier_map
from monitor.netguard import NetPolicy
from monitor.plans import Plan, parse_plans
from web.errors import ConfigError
from web.platform.settings import Settings

log = logging.getLogger("lantern.alerts")


def build_routes_and_plans(route_tables: list[dict[str, Any]], plan_tables: list[dict[str, Any]],
                           channels: list[str], *, fill_defaults: bool = True) -> tuple[list[Route], list[Plan]]:
    return (parse_routes(route_tables, channels, fill_defaults=fill_defaults), parse_plans(plan_tables, channels))


def log_coverage(routes: list[Route], escalating: Any) -> None:
    """Start-up log: which tiers the default routes cover for the configured ones, and what nobody covers."""
    for level, text in describe_gaps(routes, escalating):
        (log.warning if level == "warn" else log.info)("alert routes: %s", text)


def alert_config(settings: Settings) -> tuple[IncidentConfig, AlertConfig]:
    try:
        incident = IncidentConfig(
            window_s=settings["incidents.window_minutes"] * 60, similarity=settings["incidents.similarity"],
            volume_tiers=parse_tier_map(settings["incidents.volume_tiers"], setting="incidents.volume_tiers"),
            spike_sigma=settings["incidents.spike_sigma"], spike_min=settings["incidents.spike_min"],
            open_negative=settings["incidents.open_negative"], watch_min=settings["incidents.watch_min"],
            watch_window_s=settings["incidents.watch_minutes"] * 60,
            followup_s=settings["incidents.followup_minutes"] * 60)
        public = settings["server.public_url"] or f"http://{settings['server.host']}:{settings['server.port']}"
        alerts = AlertConfig(
            timing=Timing(group_wait=settings["incidents.group_wait_s"],
                          group_interval=settings["incidents.group_interval_s"],
                          repeat_interval=settings["incidents.repeat_interval_s"],
                          group_wait_tiers=parse_tier_map(settings["incidents.group_wait_tiers"],
                                                          setting="incidents.group_wait_tiers")),
            escalate_minutes=parse_tier_map(settings["incidents.escalate_minutes"],
                                            setting="incidents.escalate_minutes"),
            remind_minutes=parse_tier_map(settings["incidents.remind_minutes"], setting="incidents.remind_minutes"),
            quiet_hours=parse_window(settings["incidents.quiet_hours"], "incidents.quiet_hours"),
            quiet_on_holidays=settings["incidents.quiet_on_holidays"],
            digest_at=parse_clock(settings["incidents.digest_at"], "incidents.digest_at"),
            timezone=settings["monitor.timezone"], max_attempts=settings["incidents.max_attempts"],
            tick_s=settings["incidents.tick_s"], ack_ttl_s=settings["incidents.ack_link_hours"] * 3600,
            public_url=public, language=settings["server.language"])
    except (AlertConfigError, InvalidTierError) as exc:
        raise ConfigError(str(exc)) from None
    return incident, alerts


def policy_from(settings: Settings) -> ApprovalPolicy:
    return ApprovalPolicy({p: tuple(settings[f"broadcast.approvals_{p}"] or ["*"])
                           for p in ("normal", "high", "critical")})


def review_after_from(settings: Settings) -> dict[str, float]:
    """``broadcast.review_hours = ["critical:4", ...]`` -> seconds per priority (0 hours: no default)."""
    seconds: dict[str, float] = {}
    for entry in settings["broadcast.review_hours"]:
        priority, _, hours = str(entry).partition(":")
        try:
            value = float(hours)
        except ValueError:
            value = -1.0
        if priority.strip() not in PRIORITIES or not 0 <= value < math.inf:  # nan and inf too
            raise ConfigError(f"broadcast.review_hours: {entry!r} is not PRIORITY:HOURS "
                              f"(priorities: {', '.join(PRIORITIES)}; hours 0 or more)")
        if value > 0:
            seconds[priority.strip()] = value * 3600
    return seconds


def defaults_from(settings: Settings) -> Defaults:
    return Defaults(
        interval_s=float(settings["monitor.default_interval_s"]),
        timeout_s=float(settings["monitor.default_timeout_s"]),
        max_bytes=int(settings["monitor.max_response_bytes"]),
        per_host_concurrency=int(settings["monitor.per_host_concurrency"]), timezone=settings["monitor.timezone"],
        failure_alert_after=int(settings["monitor.failure_alert_after"]),
        silence_factor=float(settings["monitor.silence_factor"]),
        near_duplicate_bits=int(settings["monitor.near_duplicate_bits"]),
        parse_workers=int(settings["monitor.parse_workers"]),
        parse_time_limit_s=float(settings["monitor.parse_time_limit_s"]),
    )


def network_policy(settings: Settings) -> NetPolicy:
    """The outbound address policy (network.* settings) for source fetches and channel posts."""
    try:
        return NetPolicy.parse(block_private=settings["network.block_private"], deny=settings["network.deny"],
                               allow=settings["network.allow"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
