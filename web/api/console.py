"""Console-only read endpoints the package APIs do not offer.

* ``GET /api/console/sparklines?ids=1,2`` — mentions per hour over the last
  24 hours for each incident, for the board's volume sparklines;
* ``GET /api/console/incidents/{id}/mentions`` — an incident's mentions with
  their classification (sentiment, categories and the reasons behind it),
  so a manager can see why and correct it;
* ``POST /api/console/corrections`` — ``{"mention_id", "field", "value"}``:
  a manager corrects a mention's classification; stored through
  :func:`monitor.corrections.correct_mention` for the classifier to learn from.

* ``GET /api/console/editable/{routes|plans}`` — (admin) the alert routes or
  contingency plans in the form ``PUT /api/routing`` / ``PUT /api/plans``
  accept, for the console's JSON editor.

The first two read monitor's ``mentions`` table through :mod:`monitor.incidents.queries`;
the corrections are monitor's table too (:mod:`monitor.corrections`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from monitor import corrections
from monitor.incidents import queries
from web.auth import middleware as auth
from web.errors import BadRequest

HOURS = 24
MAX_IDS = 200


def _ids(raw: str) -> list[int]:
    ids = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            ids.append(int(part))
    return ids[:MAX_IDS]


@auth.require("manager", "oncall")
async def sparklines_handler(request: web.Request) -> web.StreamResponse:
    """Hourly mention counts of the last 24 hours per incident (``?ids=1,2,3``)."""
    try:
        ids = _ids(request.query.get("ids", ""))
    except ValueError:
        raise BadRequest("bad_request", "ids must be comma-separated numbers") from None
    services = request.app["services"]
    now = services.clock()
    series = await services.db.read(lambda db: queries.hourly_mentions(db, ids, now, HOURS))
    return web.json_response({"hours": HOURS, "series": series})


@auth.require("manager", "oncall")
async def mentions_handler(request: web.Request) -> web.StreamResponse:
    """An incident's latest mentions with their classification and its reasons."""
    try:
        incident_id = int(request.match_info["id"])
    except ValueError:
        raise BadRequest("bad_request", "incident id must be a number") from None
    rows = await request.app["services"].db.read(lambda db: queries.classified_mentions(db, incident_id))
    return web.json_response({"incident_id": incident_id, "items": rows})


@auth.require("manager")
async def correction_handler(request: web.Request) -> web.StreamResponse:
    """Correct a mention's classification: ``{"mention_id", "field": sentiment|category|tier, "value"}``."""
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("bad_json", "body must be JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("mention_id"), int) \
            or not isinstance(body.get("field"), str) or not isinstance(body.get("value"), str):
        return auth.json_error(400, "bad_request", "need mention_id (number), field and value (strings)")
    services = request.app["services"]
    user, now = request["user"].name, services.clock()
    # An unknown mention is monitor's UnknownMentionError (404), an invalid correction classifiers'
    # InvalidCorrectionError (400): the error middleware answers both.
    correction_id = await services.db.write(lambda db: corrections.correct_mention(
        db, body["mention_id"], body["field"], body["value"], user, now))
    return web.json_response({"id": correction_id}, status=201)


def _route_table(route: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in route.items() if k not in ("plan", "builtin")}


def editable(services: Any, kind: str) -> list[dict[str, Any]]:
    """Routes or plans as the PUT endpoints accept them (the parsed form minus derived keys)."""
    if kind == "routes":
        # The default routes filling gaps are not the admin's to save (they are added again as needed); with
        # no routes of their own, the defaults are the starting point to edit.
        own = [r for r in services.alerts.routes if not r.builtin]
        return [_route_table(r.as_dict()) for r in own or services.alerts.routes]
    out = []
    for plan in services.plans.plans:
        table = plan.as_dict()
        notify = table.pop("notify")
        if notify:  # a plan's notify route takes its name default and tiers from the plan
            table["notify"] = {k: v for k, v in _route_table(notify).items() if k != "tiers"}
        out.append(table)
    return out


@auth.require("admin")
async def editable_handler(request: web.Request) -> web.Response:
    """Routes or plans in the form PUT /api/routing or PUT /api/plans accepts (the console's JSON editor)"""
    services = request.app["services"]
    kind = request.match_info["kind"]
    if services.alerts is None or services.plans is None:
        return auth.json_error(404, "unavailable", "alerting is not enabled")
    return web.json_response({kind: editable(services, kind)})
