"""The route table: every HTTP and websocket route of Lantern, in one place.

Routes are grouped by the part of the system that serves them.  :func:`mount`
adds a group only when its part is built: the web layer's own routes (pages,
users, console reads, OpenAPI, metrics, health, the console stream) always,
the broadcast, alerting and monitor groups when ``services`` holds that
part.  Tests that build a partial system therefore get exactly the routes
its parts can answer, whichever way the parts were chosen.

Order matters only where two patterns could match the same path; groups are
mounted in the order below.  The OpenAPI document (:mod:`web.api.openapi`) is
built from the mounted router, so it always describes this table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from web import pages
from web.api import ack, alerts, console, health, incidents, mentions, openapi, scripts, sources, users
from web.api import metrics as api_metrics
from web.auth import security
from web.platform import metrics
from web.realtime import console_stream

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]
_ACK_LINK = r"/ack/{token:[A-Za-z0-9_.\-]{1,400}}"
_INCIDENT = r"/api/incidents/{id:\d{1,12}}"


@dataclass(frozen=True)
class Part:
    """A group of routes served by one part of the system."""

    name: str
    routes: tuple[Route, ...]
    built: Callable[[Any], bool] = lambda services: True
    # App state the group's handlers read (limiters, response hooks), set up before its routes are added.
    prepare: Callable[[web.Application, Any], None] | None = None


def _prepare_core(app: web.Application, services: Any) -> None:
    security.setup(app)
    metrics.setup(app)


def _prepare_live(app: web.Application, services: Any) -> None:
    app.on_shutdown.append(console_stream.end_streams)


def _prepare_monitor(app: web.Application, services: Any) -> None:
    app[mentions.INGEST_BUCKETS] = mentions.ingest_buckets(services)


def _prepare_pages(app: web.Application, services: Any) -> None:
    app[pages.LIMITER] = security.LoginLimiter(services.settings["auth.login_attempts_per_minute"],
                                               clock=services.clock)


BROADCAST = Part("broadcast", (
    ("GET", "/api/scripts", scripts.list_scripts),
    ("POST", "/api/scripts", scripts.create_script),
    ("GET", "/api/scripts/{id}", scripts.get_script),
    ("PUT", "/api/scripts/{id}", scripts.edit_script),
    ("POST", "/api/scripts/{id}/{action:submit|approve|reject|publish|retract}", scripts.act),
    ("GET", "/api/scripts/{id}/audit", scripts.script_audit),
    ("GET", "/api/scripts/{id}/coverage", scripts.script_coverage),
    ("GET", "/api/ticker/active", scripts.ticker_active),
    ("GET", "/api/shifts", scripts.list_shifts),
    ("GET", "/ws/ticker", scripts.ticker_socket),
), built=lambda services: services.scripts is not None)

ALERTING = Part("alerting", (
    ("GET", "/api/incidents", incidents.list_incidents),
    ("GET", _INCIDENT, incidents.get_incident),
    ("GET", _INCIDENT + "/mentions", incidents.list_mentions),
    ("GET", _INCIDENT + r"/mentions/{group:\d{1,12}}/reposts", incidents.list_reposts),
    ("POST", _INCIDENT + "/{action:ack|mitigate|resolve|retier}", incidents.step),
    ("POST", _INCIDENT + r"/checklist/{item:\d{1,12}}", incidents.check_item),
    ("GET", "/api/alerts", alerts.list_alerts),
    ("GET", "/api/alerts/inbox", alerts.my_alerts),
    ("GET", "/api/silences", alerts.list_silences),
    ("POST", "/api/silences", alerts.create_silence),
    ("DELETE", r"/api/silences/{id:\d{1,12}}", alerts.delete_silence),
    ("GET", "/api/routing", alerts.get_routing),
    ("PUT", "/api/routing", alerts.put_routing),
    ("GET", "/api/plans", alerts.get_plans),
    ("PUT", "/api/plans", alerts.put_plans),
    ("GET", "/api/users/{name:[^/]{1,64}}/contacts", alerts.get_contacts),
    ("PUT", "/api/users/{name:[^/]{1,64}}/contacts", alerts.put_contacts),
    ("GET", _ACK_LINK, ack.ack_confirm),
    ("POST", _ACK_LINK, ack.ack_link),
    ("GET", r"/incidents/{id:\d{1,12}}", ack.incident_link),
), built=lambda services: services.incidents is not None and services.alerts is not None)

MONITOR = Part("monitor", (
    ("GET", "/api/sources", sources.list_sources),
    ("POST", "/api/sources", sources.add_source),
    ("PATCH", "/api/sources/{name}", sources.change_source),
    ("POST", "/api/sources/{name}/{action:pause|resume|poll}", sources.source_action),
    ("DELETE", "/api/sources/{name}", sources.delete_source),
    ("POST", "/api/sources/{name}/token", sources.rotate_token),
    ("GET", "/api/mentions", mentions.mentions),
    ("POST", "/api/ingest", mentions.ingest),
), built=lambda services: services.monitor is not None, prepare=_prepare_monitor)

# The console's event stream: its hub is made on first use, so the stream answers in any system (it carries
# the events of whichever parts are built).
LIVE = Part("live", (("GET", "/api/live", console_stream.live_stream),), prepare=_prepare_live)

PAGES = Part("pages", (
    ("GET", "/", pages.index),
    ("GET", "/console", pages.console),
    ("GET", "/ticker", pages.ticker),
    ("GET", "/login", pages.login_form),
    ("POST", "/login", pages.login_submit),
    ("GET", "/logout", pages.logout_form),
    ("POST", "/logout", pages.logout),
    ("GET", "/widget.js", pages.widget),
    ("GET", "/static/{path:.+}", pages.static),
), prepare=_prepare_pages)

USERS = Part("users", (
    ("GET", "/api/me", users.me),
    ("GET", "/api/users", users.list_users),
    ("POST", "/api/users", users.add_user),
    ("PATCH", r"/api/users/{id:\d+}", users.edit_user),
    ("POST", r"/api/users/{id:\d+}/deactivate", users.deactivate_user),
    ("POST", r"/api/users/{id:\d+}/reactivate", users.reactivate_user),
    ("GET", r"/api/users/{id:\d+}/tokens", users.list_tokens),
    ("POST", r"/api/users/{id:\d+}/tokens", users.create_token),
    ("POST", r"/api/tokens/{id:\d+}/revoke", users.revoke_token),
    ("POST", r"/api/users/{id:\d+}/password", users.reset_password),
    ("POST", "/api/me/password", users.change_own_password),
))

CONSOLE = Part("console", (
    ("GET", "/api/console/editable/{kind:routes|plans}", console.editable_handler),
    ("GET", "/api/console/sparklines", console.sparklines_handler),
    ("GET", "/api/console/incidents/{id}/mentions", console.mentions_handler),
    ("POST", "/api/console/corrections", console.correction_handler),
    ("GET", "/api/openapi.json", openapi.openapi_json),
))

CORE = Part("core", (
    ("GET", "/healthz", health.healthz),
    ("GET", "/metrics", api_metrics.metrics_handler),
), prepare=_prepare_core)

# In mounting order.
TABLE: tuple[Part, ...] = (CORE, BROADCAST, ALERTING, MONITOR, LIVE, PAGES, USERS, CONSOLE)


def mount(app: web.Application, services: Any, parts: Sequence[Part] = TABLE) -> list[Part]:
    """Add the routes of every part of ``parts`` that ``services`` has built; returns the parts mounted."""
    mounted = [part for part in parts if part.built(services)]
    for part in mounted:
        if part.prepare is not None:
            part.prepare(app, services)
        for method, path, handler in part.routes:
            if method == "GET":
                app.router.add_get(path, handler)  # and HEAD, as aiohttp does for every GET route
            else:
                app.router.add_route(method, path, handler)
    return mounted
