"""Wiring of incidents, alerting, channels and contingency plans (issue 5).

Builds from settings (``[incidents]`` scalars; ``[[channels]]``, ``[[routes]]``,
``[[plans]]`` tables, documented in ``monitor/channels/registry.py``,
``monitor/alerting/routing.py`` and ``monitor/plans.py``):

* ``services.incidents``  :class:`monitor.incidents.engine.IncidentEngine`, registered in
  ``services.extras["mention_listeners"]``;
* ``services.alerts``     :class:`monitor.alerting.engine.AlertEngine` (its timer loop starts with the app);
* ``services.extras["plans"]`` the :class:`monitor.plans.PlanRunner`;
* ``services.extras["health_alert"]`` ``async fn(source_name, kind, message)`` for source-health alerts.

Routes and plans an admin saves through the API (``alert_config`` table) win over lantern.toml.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils

from classifiers import Signals
from monitor.alerting import saved_config
from monitor.alerting import schema as alerting_schema
from monitor.alerting.engine import AlertConfig, AlertEngine
from monitor.alerting.errors import AlertConfigError
from monitor.alerting.nflog import Timing
from monitor.alerting.quiet import parse_clock, parse_window
from monitor.alerting.routing import Route, describe_gaps, parse_routes
from monitor.channels.errors import ChannelConfigError
from monitor.channels.registry import build_channels
from monitor.incidents import schema as incidents_schema
from monitor.incidents.engine import IncidentConfig, IncidentEngine, TierModel
from monitor.incidents.errors import InvalidTierError
from monitor.incidents.tiering import parse_tier_map
from monitor.plans import Plan, PlanRunner, parse_plans
from web.auth import users
from web.errors import ConfigError
from web.platform import shared_limits
from web.wiring.monitor import network_policy

log = logging.getLogger("lantern.alerts")
MIGRATIONS = (incidents_schema.migrations, alerting_schema.migrations)


def people(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [dict(u) for u in users.list_users(db)]


def tier_model(classifier: Any) -> TierModel | None:
    """Adapt the classifier's tier formula to the engine's shape.

    With ``classifier.explain_tier`` (the real classifier) the model answers a
    mapping: the tier, the score and each signal's points, which the engine
    stores as the incident's tier reasons; otherwise ``classifier.tier(p,
    categories, Signals)`` (returns ``(tier, reasons)``) gives the tier alone.
    """
    method = getattr(classifier, "tier", None)
    explain = getattr(classifier, "explain_tier", None)
    if method is None and explain is None:
        return None

    def model(negative: float, categories: Any, signals: dict[str, Any]) -> str | dict[str, Any] | None:
        sig = Signals(source_name=signals.get("source_name"), author_reach=signals.get("author_reach") or None,
                      volume_1h=signals.get("volume_1h"), velocity=signals.get("velocity"))
        if explain is not None:
            return dict(explain(negative, tuple(categories), sig).as_dict())
        assert method is not None
        result = method(negative, tuple(categories), sig)
        tier = result[0] if isinstance(result, tuple) else result
        return str(tier) if tier else None

    return model


def build_routes_and_plans(route_tables: list[dict[str, Any]], plan_tables: list[dict[str, Any]],
                           channels: list[str], *, fill_defaults: bool = True) -> tuple[list[Route], list[Plan]]:
    return (parse_routes(route_tables, channels, fill_defaults=fill_defaults), parse_plans(plan_tables, channels))


def log_coverage(routes: list[Route], escalating: Any) -> None:
    """Start-up log: which tiers the default routes cover for the configured ones, and what nobody covers."""
    for level, text in describe_gaps(routes, escalating):
        (log.warning if level == "warn" else log.info)("alert routes: %s", text)


def alert_config(settings: Any) -> tuple[IncidentConfig, AlertConfig]:
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


async def wire(services: Any) -> None:
    settings = services.settings
    incident_config, config = alert_config(settings)
    try:
        channels = build_channels(settings.lists["channels"], clock=services.clock, network=network_policy(settings))
        saved_routes = await services.db.read(lambda db: saved_config.load(db, "routes"))
        saved_plans = await services.db.read(lambda db: saved_config.load(db, "plans"))
        routes, plans = build_routes_and_plans(
            settings.lists["routes"] if saved_routes is None else saved_routes,
            settings.lists["plans"] if saved_plans is None else saved_plans, list(channels),
            fill_defaults=settings["incidents.default_routes"])
    except (ChannelConfigError, AlertConfigError) as exc:
        raise ConfigError(str(exc)) from None
    log_coverage(routes, config.escalate_minutes)
    brands = {str(s.get("name")): str(s.get("brand") or "") for s in settings.lists["sources"]
              if isinstance(s, dict)}
    incidents = IncidentEngine(services.db, clock=services.clock, config=incident_config,
                               tier_model=tier_model(services.classifier),
                               brand_of=lambda source: brands.get(source, ""), brands=settings["monitor.brands"])
    runner = PlanRunner(services.db, plans, clock=services.clock,
                        create_draft=lambda: services.extras.get("create_draft_script"))
    engine = AlertEngine(services.db, clock=services.clock, channels=channels, routes=routes,
                         secret=services.secret, config=config, people=people,
                         limits=shared_limits.for_services(services))
    # A year the holiday calendar lacks never stops the service: it is logged (and shown in the routing view)
    # now, alerted to on-call at the first tick, and every day of it counts as a workday.
    engine.quiet.check_calendar(services.clock())
    engine.plan_routes = runner.routes()
    incidents.listeners += [runner.on_changes, engine.on_changes]
    services.incidents = incidents
    services.alerts = engine
    services.extras["plans"] = runner
    services.extras.setdefault("mention_listeners", []).append(incidents.on_mentions)
    services.extras["health_alert"] = engine.health_alert
    services.on_start.append(engine.start)
    services.on_stop.append(engine.stop)
