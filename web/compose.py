"""The composition root: builds every part of Lantern from the settings and connects them.

Packages never import each other sideways to be connected; each declares what
it consumes as a small protocol or callback type, and this module hands it the
object that satisfies it::

    polled page ─▶ MonitorService ─ Pipeline: store, classify (MentionClassifier) ─▶ list[StoredMention]
        ─▶ MentionSink: IncidentEngine.on_mentions ─▶ list[IncidentChange]
        ─▶ incident listeners: PlanRunner.on_changes, AlertEngine.on_changes, the console stream
        ─▶ DraftScripts: ScriptService.draft_for_plan ─▶ a draft in the approval queue

:func:`connect_flow` makes those hand-offs in that order.  The parts are
built in dependency order (classifier, broadcast, alerts, monitor, console
stream, cross-node fan-out); a test builds only the parts it names
(``parts={Part.BROADCAST, Part.ALERTS}``) and may give its own classifier.
Nothing is started here: ``services.start()`` runs the parts' start hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from broadcast.hub import TickerHub
from broadcast.model import Viewer
from broadcast.redis_relay import RedisRelay
from broadcast.runtime import Runtime
from broadcast.schema import MIGRATIONS as BROADCAST_MIGRATIONS
from broadcast.service import ScriptService
from broadcast.shifts import ShiftCalendar
from classifiers import Classifier, Signals, load_adapted
from infra.redis import RedisLink
from monitor import schema as monitor_schema
from monitor.alerting import saved_config
from monitor.alerting import schema as alerting_schema
from monitor.alerting.engine import AlertEngine
from monitor.alerting.errors import AlertConfigError
from monitor.channels.errors import ChannelConfigError
from monitor.channels.registry import build_channels
from monitor.corrections import corrections_signature
from monitor.errors import SourceConfigError
from monitor.http import HttpFetcher
from monitor.incidents import schema as incidents_schema
from monitor.incidents.engine import IncidentEngine, TierModel
from monitor.mentions import StoredMention
from monitor.pipeline import MentionClassifier, MentionSink
from monitor.plans import PlanRunner
from monitor.service import MonitorService
from monitor.shared_limits import RedisLimits
from web.api import scripts as api_scripts
from web.auth import revocation, users
from web.auth import schema as auth_schema
from web.auth.middleware import AuthState
from web.auth.revocation import Connections
from web.auth.revocation_redis import ChangeFanout
from web.auth.shift_settings import calendar_from
from web.classifier import ClassifierHandle, load_classifier, overlay_dir
from web.configure import (
    alert_config,
    build_routes_and_plans,
    defaults_from,
    log_coverage,
    network_policy,
    policy_from,
    review_after_from,
)
from web.errors import ConfigError
from web.feedback import adapt_from_corrections
from web.platform import metrics, shared_limits
from web.platform.metrics import LanternMetrics
from web.platform.settings import Settings
from web.platform.storage import Database
from web.realtime import console_events, console_stream
from web.realtime.console_events import LiveHub
from web.realtime.console_events_redis import RedisFanout

log = logging.getLogger("lantern.compose")
Clock = Callable[[], float]
Hook = Callable[[], Awaitable[None]]


class Part(Enum):
    """A part of the system :func:`build_services` can build (each needs those before it that it names)."""

    CLASSIFIER = "classifier"  # the model, adapted to managers' corrections on a schedule
    BROADCAST = "broadcast"  # scripts, the ticker hub and its loops (and the Redis relay)
    ALERTS = "alerts"  # incidents, plans and alerting (plans draft through BROADCAST when built)
    MONITOR = "monitor"  # sources, polling, the pipeline (classifies with CLASSIFIER, or loads the model)
    CONSOLE = "console"  # the console's event stream, fed by every part built
    FANOUT = "fanout"  # principal and source changes to the other nodes (with redis.url)


ALL_PARTS: frozenset[Part] = frozenset(Part)


@dataclass
class Services:
    """Everything a request handler or a command may need, built once per process."""

    settings: Settings
    db: Database
    clock: Clock
    secret: str = ""
    redis: RedisLink | None = None  # this node's link to the shared Redis ([redis] url); None: one node only
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    # Each part's objects (None when the part is not built).
    classifier: ClassifierHandle | None = None
    adapt_classifier: Hook | None = None  # re-adapt to the corrections now
    monitor: MonitorService | None = None
    mention_sinks: list[MentionSink] = field(default_factory=list)  # told of every stored, classified batch
    incidents: IncidentEngine | None = None
    alerts: AlertEngine | None = None
    plans: PlanRunner | None = None
    scripts: ScriptService | None = None
    hub: TickerHub | None = None
    runtime: Runtime | None = None
    relay: RedisRelay | None = None
    shifts: ShiftCalendar | None = None
    console_fanout: RedisFanout | None = None
    principal_fanout: ChangeFanout | None = None
    # Per-process helpers, made on first use by their module's ``for_services``.
    metrics: LanternMetrics | None = None
    limits: RedisLimits | None = None
    live: LiveHub | None = None  # the console's event stream
    auth: AuthState | None = None
    connections: Connections | None = None

    async def start(self) -> None:
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        for hook in reversed(self.on_stop):
            await hook()


def migration_sets() -> list[Migrations]:
    """Every package's migration set, in dependency order."""
    return [*auth_schema.MIGRATIONS, *monitor_schema.MIGRATIONS, *BROADCAST_MIGRATIONS,
            incidents_schema.migrations, alerting_schema.migrations]


def open_database(settings: Settings) -> Database:
    db = Database(settings["storage.path"])
    db.migrate(migration_sets())
    return db


def redis_link(settings: Settings) -> RedisLink | None:
    """The one link (and node id) every cross-node feature of this node shares; None without ``redis.url``."""
    return RedisLink(settings["redis.url"], settings["redis.prefix"]) if settings["redis.url"] else None


async def build_services(settings: Settings, *, clock: Clock = time.time, db: Database | None = None,
                         parts: Collection[Part] = ALL_PARTS,
                         classifier: MentionClassifier | None = None) -> Services:
    """Open the database, apply migrations and build ``parts`` (nothing is started yet).

    ``classifier`` replaces the model for the monitor (tests give a fast one).
    """
    owned = db is None
    db = db or open_database(settings)
    try:
        secret = settings["auth.secret_key"] or await db.write(lambda d: users.app_secret(d, "auth"))
        for warning in settings.warnings:
            log.warning("%s", warning)
        services = Services(settings=settings, db=db, clock=clock, secret=secret, redis=redis_link(settings))
        if Part.CLASSIFIER in parts:
            await build_classifier(services)
        if Part.BROADCAST in parts:
            build_broadcast(services)
        if Part.ALERTS in parts:
            await build_alerts(services)
        if Part.MONITOR in parts:
            build_monitor(services, classifier or services.classifier or load_model(settings))
        connect_flow(services)
        if Part.CONSOLE in parts:
            connect_console(services)
        if Part.FANOUT in parts:
            connect_fanout(services)
    except BaseException:
        if owned:
            db.close()
        raise
    return services


def connect_flow(services: Services) -> None:
    """The flow from a polled page to a draft script, one hand-off a line, over whichever parts are built.

    1. the monitor polls a page, stores and classifies its new mentions and hands the batch to each mention sink;
    2. the incident engine is one: it groups the mentions into incidents and tells its listeners what changed;
    3. the plan runner starts a matching contingency plan (预案) and drafts its scripts; the alert engine
       plans who to tell (it also takes the monitor's source-health alerts, given when the monitor is built);
    4. the script service takes the drafts into the approval queue.
    """
    incidents, plans, alerts = services.incidents, services.plans, services.alerts
    if incidents is not None:
        services.mention_sinks.append(incidents.on_mentions)  # 1 -> 2
        if plans is not None:
            incidents.listeners.append(plans.on_changes)  # 2 -> 3
        if alerts is not None:
            incidents.listeners.append(alerts.on_changes)  # 2 -> 3
    if plans is not None:
        plans.drafts = services.scripts  # 3 -> 4 (without the broadcast part: logged, not drafted)


# -- the parts ---------------------------------------------------------------------------
def load_model(settings: Settings) -> Classifier:
    """The trained model alone (a monitor built without the classifier part, e.g. ``lantern poll``)."""
    return load_adapted(settings["classifier.model_path"] or None, brands=settings["monitor.brands"])


async def build_classifier(services: Services) -> ClassifierHandle:
    """The classifier behind a handle; a job adapts it to managers' corrections (swapped in behind the handle)."""
    settings = services.settings
    # The base model without saved corrections: the job below re-adapts it from the database.
    base = await asyncio.to_thread(load_classifier, settings)
    handle = ClassifierHandle(base, metrics.for_services(services).classification_seconds.observe)
    interval = float(settings["classifier.adapt_interval_s"])
    task: asyncio.Task[None] | None = None
    seen: tuple[int, int] | None = None

    async def adapt_once() -> None:
        # Re-adapt (and rewrite overlay.json) only when the corrections changed since the last run.
        nonlocal seen
        signature = await services.db.read(corrections_signature)
        if signature == seen:
            return
        handle.swap(await adapt_from_corrections(services.db, base, overlay_dir(settings)))
        seen = signature

    async def loop() -> None:
        while True:
            try:
                await adapt_once()
            except Exception:  # keep serving with the previous model; the next run retries
                log.exception("adapting the classifier to corrections failed")
            await asyncio.sleep(interval)

    async def start() -> None:
        nonlocal task
        if interval > 0:
            task = asyncio.create_task(loop(), name="classifier-adapt")
        else:
            await adapt_once()

    async def stop() -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    services.classifier, services.adapt_classifier = handle, adapt_once
    services.on_start.append(start)
    services.on_stop.append(stop)
    return handle


def agent_roster(db: sqlite_utils.Database) -> list[Viewer]:
    """Every active agent account as a ticker viewer (team, skills, site, shift from the account)."""
    return [api_scripts.viewer_for(user) for user in users.active_users(db, "agent")]


def build_broadcast(services: Services) -> ScriptService:
    """Scripts and their approval, the ticker hub, the runtime loops and (with Redis) the relay between nodes."""
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
    services.hub, services.scripts, services.runtime, services.shifts = hub, scripts, runtime, shifts
    broadcast_seconds = metrics.for_services(services).broadcast_seconds
    hub.on_fanout.append(lambda seconds, _written: broadcast_seconds.observe(seconds))
    services.on_start.append(runtime.start)
    services.on_stop.append(runtime.stop)
    if services.redis is not None:
        relay = RedisRelay(hub, scripts, services.redis)
        services.relay = relay
        services.on_start.append(relay.start)
        services.on_stop.insert(0, relay.stop)
    return scripts


def tier_model(classifier: object) -> TierModel | None:
    """Adapt the classifier's tier formula to the engine's shape.

    With ``classifier.explain_tier`` (the real classifier) the model answers a
    mapping: the tier, the score and each signal's points, which the engine
    stores as the incident's tier reasons; otherwise ``classifier.tier(p,
    categories, signals)`` (returns ``(tier, reasons)``) gives the tier alone.
    """
    method = getattr(classifier, "tier", None)
    explain = getattr(classifier, "explain_tier", None)
    if method is None and explain is None:
        return None

    def model(negative: float, categories: Sequence[str], signals: Signals) -> str | dict[str, Any] | None:
        if explain is not None:
            return dict(explain(negative, tuple(categories), signals).as_dict())
        assert method is not None
        result = method(negative, tuple(categories), signals)
        tier = result[0] if isinstance(result, tuple) else result
        return str(tier) if tier else None

    return model


def people(db: sqlite_utils.Database) -> list[dict[str, object]]:
    return [dict(u) for u in users.list_users(db)]


async def build_alerts(services: Services) -> IncidentEngine:
    """Incidents, contingency plans and the alert engine with its channels and routes.

    Routes and plans an admin saved through the API (``alert_config`` table) win over lantern.toml.
    """
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
    runner = PlanRunner(services.db, plans, clock=services.clock)
    engine = AlertEngine(services.db, clock=services.clock, channels=channels, routes=routes,
                         secret=services.secret, config=config, people=people,
                         limits=shared_limits.for_services(services))
    # A year the holiday calendar lacks never stops the service: it is logged (and shown in the routing view)
    # now, alerted to on-call at the first tick, and every day of it counts as a workday.
    engine.quiet.check_calendar(services.clock())
    engine.plan_routes = runner.routes()
    services.incidents, services.plans, services.alerts = incidents, runner, engine
    services.on_start.append(engine.start)
    services.on_stop.append(engine.stop)
    return incidents


def build_monitor(services: Services, classifier: MentionClassifier) -> MonitorService:
    """The sources, their schedule and health, and the pipeline that hands new mentions to the sinks."""
    settings = services.settings
    sinks = services.mention_sinks

    async def on_new_mentions(batch: list[StoredMention]) -> None:
        failed: Exception | None = None
        for sink in list(sinks):
            try:
                await sink(batch)
            except Exception as exc:
                log.exception("a mention sink failed on a batch of %d mentions", len(batch))
                failed = failed or exc
        if failed is not None:  # the batch stays unannounced (notified_at NULL) and is resumed; attaching is idempotent
            raise failed

    sources = []
    for table in settings.sources:
        if table.get("kind") == "demo" and "speed" not in table:
            table = {**table, "speed": float(settings["demo.speed"])}
        sources.append(table)
    defaults = defaults_from(settings)
    fetcher = HttpFetcher(per_host=defaults.per_host_concurrency, clock=services.clock,
                          policy=network_policy(settings))
    alerts = services.alerts
    try:
        monitor = MonitorService(services.db, classifier, services.clock, sources=sources, defaults=defaults,
                                 on_new_mentions=on_new_mentions,
                                 on_health_alert=None if alerts is None else alerts.health_alert, fetcher=fetcher)
    except SourceConfigError as exc:  # shown by the CLI as a clean configuration error
        raise ConfigError(f"[[sources]]: {exc}") from exc
    services.monitor = monitor

    async def start() -> None:
        await monitor.start(schedule=bool(settings["monitor.enabled"]))

    services.on_start.append(start)
    services.on_stop.append(monitor.stop)
    return monitor


def connect_console(services: Services) -> LiveHub:
    """The console's event stream: one small listener on each part built; with Redis, to the other nodes too."""
    settings = services.settings
    hub = console_events.for_services(services)
    hub.hello = {"polling": bool(settings["console.fallback_polling"])}
    if services.incidents is not None:
        services.incidents.listeners.append(console_stream.incident_listener(services.db, hub))
    if services.alerts is not None:
        services.alerts.listeners.append(console_stream.alert_listener(hub))
    if services.scripts is not None:
        services.scripts.listeners.append(console_stream.script_listener(hub))
    if services.monitor is not None:
        services.monitor.listeners.append(console_stream.source_listener(hub))
    if services.redis is not None:
        fanout = RedisFanout(hub, services.redis)
        services.console_fanout = fanout
        services.on_start.append(fanout.start)
        services.on_stop.insert(0, fanout.stop)
    return hub


def connect_fanout(services: Services) -> ChangeFanout | None:
    """With ``redis.url``: principal changes and source changes reach every node."""
    if services.redis is None:
        return None
    monitor = services.monitor

    async def reload_source(name: str) -> None:
        if monitor is not None:
            await monitor.reload_source(name)

    async def missed() -> None:
        await revocation.recheck(services)
        if monitor is not None:
            await monitor.reload_sources()

    fanout = ChangeFanout(services.redis, on_change=lambda change: revocation.apply(services, change),
                          on_source=reload_source, on_missed=missed)
    services.principal_fanout = fanout
    if monitor is not None:
        monitor.config_listeners.append(fanout.forward_source)
    services.on_start.append(fanout.start)
    services.on_stop.insert(0, fanout.stop)
    return fanout
