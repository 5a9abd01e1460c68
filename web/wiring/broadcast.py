"""Wiring of the broadcast part: ScriptService, the ticker hub, its background loops and Redis fan-out."""

from __future__ import annotations

import math
from typing import Any

import sqlite_utils

from broadcast.hub import TickerHub
from broadcast.lifecycle import ApprovalPolicy
from broadcast.model import PRIORITIES, Viewer
from broadcast.runtime import Runtime
from broadcast.schema import MIGRATIONS as _BROADCAST_MIGRATIONS
from broadcast.service import ScriptService
from web.api import scripts as api_scripts
from web.auth import users
from web.auth.shift_settings import calendar_from
from web.errors import ConfigError
from web.platform import metrics

MIGRATIONS = _BROADCAST_MIGRATIONS


def policy_from(settings: Any) -> ApprovalPolicy:
    return ApprovalPolicy({p: tuple(settings[f"broadcast.approvals_{p}"] or ["*"])
                           for p in ("normal", "high", "critical")})


def review_after_from(settings: Any) -> dict[str, float]:
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


def agent_roster(db: sqlite_utils.Database) -> list[Viewer]:
    """Every active agent account as a ticker viewer (team, skills, site, shift from the account)."""
    return [api_scripts.viewer_for(user) for user in users.active_users(db, "agent")]


async def wire(services: Any) -> None:
    settings = services.settings
    ping = float(settings["broadcast.ping_interval_s"])
    stale_after = float(settings["broadcast.stale_after_s"])
    if stale_after <= ping:
        raise ConfigError(f"broadcast.stale_after_s ({stale_after:g}) must be longer than "
                          f"broadcast.ping_interval_s ({ping:g}): a quiet, healthy ticker hears only pings")
    shifts = calendar_from(settings)
    hub = TickerHub(clock=services.clock, history=int(settings["broadcast.history"]),
                    withdrawn_s=float(settings["broadcast.withdrawn_s"]),
                    max_buffer=int(settings["broadcast.max_buffer_bytes"]), ping_timeout_s=3 * ping,
                    stale_after_s=stale_after)
    scripts = ScriptService(services.db, clock=services.clock, policy=policy_from(settings), hub=hub,
                            review_after_s=review_after_from(settings), shifts=shifts, roster=agent_roster)
    runtime = Runtime(scripts, hub, ping_interval_s=ping)
    services.hub, services.scripts = hub, scripts
    services.extras["shifts"] = shifts
    broadcast_seconds = metrics.for_services(services).broadcast_seconds
    hub.on_fanout.append(lambda seconds, _written: broadcast_seconds.observe(seconds))
    services.extras["broadcast_runtime"] = runtime

    async def create_draft_script(incident_id: int | None, title: str, body: str, priority: str,
                                  author: Any) -> int:
        """For contingency plans (预案): a draft by a non-person author; any manager may approve it."""
        view = await scripts.create_draft(author, title, body, priority, None, incident_id, None)
        return int(view["id"])

    services.extras["create_draft_script"] = create_draft_script
    services.on_start.append(runtime.start)
    services.on_stop.append(runtime.stop)
    if services.redis is not None:
        from broadcast.redis_relay import RedisRelay

        relay = RedisRelay(hub, scripts, services.redis)
        services.extras["broadcast_relay"] = relay
        services.on_start.append(relay.start)
        services.on_stop.insert(0, relay.stop)
