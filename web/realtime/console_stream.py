"""``GET /api/live``: the console's Server-Sent Events stream, and the listeners that feed it.

:func:`web.compose.connect_console` registers one small listener (below) on
each part built: the incident engine, the alert engine, the script service and
the monitor (they know nothing of ``web``).  With ``redis.url`` set the events
also travel to the other nodes over the shared Redis (``<redis.prefix>:console``).

The stream (``text/event-stream``)::

    retry: 3000
    id: 5f3a9c01-41
    event: ready                      {"polling": true}  (first event of a fresh connection)
    id: 5f3a9c01-42
    event: incident
    data: {"id":7,"tier":"P1","count":12,"state":"open","change":"retiered"}
    : keep-alive                      (every console.live_heartbeat_s seconds)

``Last-Event-ID`` (sent by the browser on reconnect; or ``?last_event_id=``)
resumes after that event; when that is no longer possible the stream starts
with ``resync`` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from broadcast.service import Listener as ScriptListener
from broadcast.service import ScriptChanged
from monitor.alerting.engine import AlertsChanged
from monitor.alerting.engine import Listener as AlertListener
from monitor.incidents import queries as incident_queries
from monitor.incidents.engine import Listener as IncidentListener
from monitor.incidents.model import IncidentChange
from monitor.service import SourceListener, SourceStatus
from web.auth import middleware as auth
from web.auth import revocation
from web.auth.middleware import require
from web.platform.storage import Database
from web.realtime import console_events as live


# -- producers ---------------------------------------------------------------------
def incident_listener(db: Database, hub: live.LiveHub) -> IncidentListener:
    async def on_changes(changes: list[IncidentChange]) -> None:
        ids = sorted({int(c.incident_id) for c in changes})
        rows = await db.read(lambda conn: incident_queries.counts_and_states(conn, ids))
        for change in changes:
            count, state = rows.get(change.incident_id, (None, None))
            hub.publish("incident", {"id": change.incident_id, "tier": change.tier, "count": count, "state": state,
                                     "change": change.kind})

    return on_changes


def alert_listener(hub: live.LiveHub) -> AlertListener:
    async def on_deliveries(event: AlertsChanged) -> None:
        hub.publish("alert", {"incidents": sorted(event.incidents, key=lambda i: (i is None, i or 0))})

    return on_deliveries


def script_listener(hub: live.LiveHub) -> ScriptListener:
    async def on_script(event: ScriptChanged) -> None:
        hub.publish("script", {"id": event.id, "version": event.version, "state": event.state})

    return on_script


def source_listener(hub: live.LiveHub) -> SourceListener:
    async def on_source(event: SourceStatus) -> None:
        hub.publish("source", {"name": event.name, "status": event.status})

    return on_source


# -- the stream ----------------------------------------------------------------------
@require("manager", "oncall")
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Console events (Server-Sent Events): incident, alert, script, source; resume with Last-Event-ID."""
    services = request.app["services"]
    hub = live.for_services(services)
    heartbeat = float(services.settings["console.live_heartbeat_s"])
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    subscriber, first = hub.subscribe(last)
    transport = request.transport
    if transport is not None:
        subscriber.on_drop = transport.close  # too slow: end the connection, the browser resumes
    # Deactivated, token revoked, signed out or changed role: the stream ends (with a last "account" event).
    held = revocation.hold(services, request["user"], auth.credential(request),
                           lambda action, reason: subscriber.end_with(live.account_event(action, reason)))
    response = web.StreamResponse(headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n" + b"".join(hub.encode(e) for e in first))
        async for chunk in _chunks(subscriber, hub, heartbeat):
            await response.write(chunk)
    except ConnectionResetError:
        pass  # the console went away (or was dropped)
    finally:
        revocation.release(services, held)
        hub.unsubscribe(subscriber)
    return response


async def _chunks(subscriber: live.Subscriber, hub: live.LiveHub, heartbeat: float) -> AsyncIterator[bytes]:
    while (batch := await subscriber.next_batch(heartbeat)) is not None:
        yield b"".join(hub.encode(e) for e in batch) if batch else live.HEARTBEAT
    if subscriber.final:
        yield subscriber.final


async def end_streams(app: web.Application) -> None:
    """On shutdown: end every open stream, so the server does not wait for them."""
    hub = app["services"].live
    if isinstance(hub, live.LiveHub):
        hub.close()
