"""``/api/openapi.json``: the HTTP API described from the routes actually mounted.

The document is built from the router, so an endpoint added to the route
table (:mod:`web.api.routes`) appears without anyone editing a spec file: its summary and
description come from the handler's docstring, its path parameters from the
route, and the roles it requires (from ``@require``) are listed in
``x-lantern-roles`` and in the description.  Request and response bodies
that are known are described in :data:`BODIES`.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from web.auth import middleware as auth

DOCUMENTED_PREFIXES = ("/api/", "/ws/", "/healthz", "/metrics")
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

_USER = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "role": {"type": "string",
                                                                    "enum": ["admin", "manager", "agent",
                                                                             "oncall"]},
    "team": {"type": "string"}, "display_name": {"type": "string"},
    "skills": {"type": "array", "items": {"type": "string"}}, "site": {"type": "string"},
    "shift": {"type": "string"}}}
_ERROR = {"type": "object", "description": "Every error answer (web.api.error_middleware); some add fields, "
          "e.g. field", "properties": {
    "error": {"type": "string", "description": "stable code"},
    "message": {"type": "string", "description": "in the request's language (?lang=, else server.language)"},
    "message_zh": {"type": "string"}, "message_en": {"type": "string"}},
          "required": ["error", "message"]}

# Known request bodies: (method, path) -> JSON schema.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/users"): {"type": "object", "required": ["name", "role", "password"], "properties": {
        "name": {"type": "string"}, "role": {"type": "string"}, "password": {"type": "string", "minLength": 8},
        "team": {"type": "string"}, "display_name": {"type": "string"},
        "skills": {"type": "array", "items": {"type": "string"}}, "site": {"type": "string"},
        "shift": {"type": "string", "description": "one of the [[shifts]] names, or empty"}}},
    ("POST", "/api/scripts"): {"type": "object", "required": ["title", "body"], "properties": {
        "title": {"type": "string"}, "body": {"type": "string"},
        "priority": {"type": "string", "enum": ["critical", "high", "normal", "low"]},
        "incident_id": {"type": ["integer", "string", "null"]},
        "expires_in_s": {"type": "number"},
        "review_by": {"type": ["number", "null"], "description": "epoch seconds; default by priority"}}},
    ("POST", "/api/scripts/{id}/reject"): {"type": "object", "properties": {"comment": {"type": "string"}}},
    ("POST", "/api/scripts/{id}/approve"): {"type": "object", "properties": {"comment": {"type": "string"}}},
    ("POST", "/api/scripts/{id}/submit"): {"type": "object", "properties": {
        "version": {"type": "integer", "description": "the version you submit; 409 stale_version unless current"},
        "content_hash": {"type": "string", "description": "the content_hash of the text you show; 409 unless it "
                                                          "is that version's (save edits first)"}}},
    ("POST", "/api/incidents/{id}/retier"): {"type": "object", "required": ["tier"],
                                             "properties": {"tier": {"type": "string"}}},
}
BODIES.update({
    ("POST", "/api/console/corrections"): {"type": "object", "required": ["mention_id", "field", "value"],
                                           "properties": {"mention_id": {"type": "integer"},
                                                          "field": {"enum": ["sentiment", "category", "tier"]},
                                                          "value": {"type": "string"}}},
    ("POST", "/api/me/password"): {"type": "object", "required": ["current", "new"], "properties": {
        "current": {"type": "string"}, "new": {"type": "string", "minLength": 8}}},
    ("POST", "/api/users/{id}/password"): {"type": "object", "required": ["password"],
                                           "properties": {"password": {"type": "string", "minLength": 8}}},
    ("PATCH", "/api/users/{id}"): {"type": "object", "properties": {
        "role": {"enum": ["admin", "manager", "agent", "oncall"]}, "team": {"type": "string"},
        "display_name": {"type": "string"}, "skills": {"type": "array", "items": {"type": "string"}},
        "site": {"type": "string"}, "shift": {"type": "string"}}},
    ("POST", "/api/users/{id}/tokens"): {"type": "object", "properties": {"label": {"type": "string",
                                                                                    "maxLength": 100}}},
    ("POST", "/api/silences"): {"type": "object", "required": ["ends_at"], "properties": {
        "kind": {"enum": ["silence", "maintenance"]}, "starts_at": {"type": "number"}, "ends_at": {"type": "number"},
        "daily": {"type": "string", "description": "HH:MM-HH:MM local window for maintenance"},
        "comment": {"type": "string"},
        "matchers": {"type": "object", "properties": {
            "tiers": {"type": "array", "items": {"enum": ["P1", "P2", "P3", "P4"]}},
            "categories": {"type": "array", "items": {"type": "string"}},
            "brands": {"type": "array", "items": {"type": "string"}},
            "channels": {"type": "array", "items": {"type": "string"}}, "incident_id": {"type": "integer"}}}}},
    ("POST", "/api/incidents/{id}/checklist/{item}"): {"type": "object",
                                                       "properties": {"done": {"type": "boolean"}}},
    ("PUT", "/api/scripts/{id}"): {"type": "object", "properties": {
        "title": {"type": "string"}, "body": {"type": "string"}, "priority": {"enum": ["critical", "high", "normal"]},
        "audience": {}, "incident_id": {}, "expires_at": {"type": ["number", "null"]},
        "review_by": {"type": ["number", "null"]}}},
})
# Summaries for handlers that carry no docstring of their own.
SUMMARIES: dict[tuple[str, str], str] = {
    ("GET", "/api/incidents"): "Incidents, most severe and active first (?state=&tier=&limit=&offset=)",
    ("GET", "/api/incidents/{id}"): "One incident: why its tier (tier_why, tier_history), timeline, top authors "
                                   "and sources, sentiment, events, checklist, scripts, deliveries",
    ("POST", "/api/incidents/{id}/{action}"): "Acknowledge, mitigate, resolve or re-tier an incident",
    ("POST", "/api/incidents/{id}/checklist/{item}"): "Tick or untick a contingency-plan checklist item",
    ("GET", "/api/alerts"): "Alert deliveries per recipient (?incident_id=&status=&mine=1)",
    ("GET", "/api/alerts/inbox"): "My alerts: what reached me in person or named me on a channel, one per incident",
    ("GET", "/api/silences"): "Active and future silences",
    ("POST", "/api/silences"): "Create a silence or maintenance window",
    ("DELETE", "/api/silences/{id}"): "Delete a silence",
    ("GET", "/api/routing"): "Alert channels, routes and timing",
    ("PUT", "/api/routing"): "Replace the alert routing",
    ("GET", "/api/plans"): "Contingency plans (预案)",
    ("PUT", "/api/plans"): "Replace the contingency plans",
    ("GET", "/api/sources"): "Sources with their health",
    ("POST", "/api/sources"): "Add a source",
    ("PATCH", "/api/sources/{name}"): "Change a source",
    ("POST", "/api/sources/{name}/{action}"): "Pause, resume or poll a source now",
    ("DELETE", "/api/sources/{name}"): "Remove a source",
    ("GET", "/api/mentions"): "Stored mentions, newest first (?source=&incident=&tier=&before=&limit=)",
    ("POST", "/api/ingest"): "Push a batch of mentions (push sources; per-source token)",
    ("GET", "/api/scripts"): "Scripts (话术), current version of each (?state=)",
    ("POST", "/api/scripts"): "Draft a new script",
    ("GET", "/api/scripts/{id}"): "A script with all its versions and approvals",
    ("PUT", "/api/scripts/{id}"): "Edit a script (a new draft version)",
    ("POST", "/api/scripts/{id}/{action}"): "Submit, approve, reject, publish or retract a script",
    ("GET", "/api/scripts/{id}/audit"): "A script's hash-chained audit trail",
    ("GET", "/api/scripts/{id}/coverage"): "Which connected and on-shift agents displayed, acknowledged and copied "
                                           "a version",
    ("GET", "/ws/ticker"): "The agents' ticker websocket (protocol: broadcast/PROTOCOL.md)",
    ("GET", "/healthz"): "Liveness and database check",
}


def _list(item: dict[str, Any], *, paged: bool = False) -> dict[str, Any]:
    """The one list envelope: ``{"items": [...]}``, plus ``next_before`` (the ``before=`` of the next page)."""
    properties: dict[str, Any] = {"items": {"type": "array", "items": item}}
    if paged:
        properties["next_before"] = {"type": ["integer", "null"]}
    return {"type": "object", "required": ["items"], "properties": properties}


_HEALTH = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["pending", "ok", "warning", "error", "failing", "silent"]},
    "last_error": {"type": ["string", "null"]},
    "warning": {"type": ["string", "null"], "description": "what the last poll or push stored with a caveat "
                "(refused items, a truncated feed, clamped dates)"},
    "rejected": {"type": "array", "description": "the most recently refused items (up to 20)",
                 "items": {"type": "object", "properties": {"item": {"type": ["string", "integer"]},
                                                            "reason": {"type": "string"}}}},
    "rejected_count": {"type": "integer"}, "rejected_at": {"type": ["number", "null"]},
    "encoding": {"type": ["string", "null"], "description": "text encoding the last page was read in"},
    "encoding_source": {"type": ["string", "null"], "description": "how it was chosen: override, bom, http, "
                        "xml, meta, utf-8, detected"}}}
_SHOWN_ONCE = {"type": "string", "description": "Shown in this answer only; store it now, it cannot be read again."}
RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/me"): {"type": "object", "properties": {"user": _USER, "csrf_token": {"type": "string"}}},
    ("GET", "/api/users"): _list(_USER),
    ("PATCH", "/api/users/{id}"): {"type": "object", "properties": {"user": _USER}},
    ("GET", "/api/users/{id}/tokens"): _list({"type": "object", "properties": {
        "id": {"type": "integer"}, "label": {"type": "string"}, "created_at": {"type": "number"},
        "last_used_at": {"type": ["number", "null"]}, "revoked": {"type": "boolean"}}}),
    ("POST", "/api/users/{id}/tokens"): {"type": "object", "properties": {"token": _SHOWN_ONCE,
                                                                          "label": {"type": "string"}}},
    ("GET", "/api/sources"): _list({"type": "object", "description": "A source (secrets masked as ***) with "
                                    "paused, health and next_run_at", "properties": {"health": _HEALTH}}),
    ("POST", "/api/sources"): {"type": "object", "properties": {"source": {"type": "object", "properties": {
        "token": {**_SHOWN_ONCE, "description": "Push sources without a token of their own: the generated "
                  "token, in this answer only."}}}}},
    ("POST", "/api/sources/{name}/token"): {"type": "object", "properties": {"name": {"type": "string"},
                                                                             "token": _SHOWN_ONCE}},
    ("GET", "/api/mentions"): _list({"type": "object", "description": "A stored mention with its classification"},
                                    paged=True),
    ("POST", "/api/ingest"): {"type": "object", "description": "Per-item results: 200 when the batch was "
                              "processed (good items stored, bad ones refused one by one), 422 with the same body "
                              "when every item was refused; 400 for a body that is not JSON or nested too deeply.",
                              "properties": {
        "source": {"type": "string"}, "accepted": {"type": "integer", "description": "new mentions stored"},
        "duplicates": {"type": "integer"}, "filtered": {"type": "integer", "description": "left out by the "
                                                         "source's brand query"},
        "rejected": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer", "description": "position of the item in the batch"},
            "reason": {"type": "string"}}}},
        "warnings": {"type": "array", "items": {"type": "string"}, "description": "what was stored with a "
                     "caveat, e.g. future dates clamped to the fetch time"},
        "errors": {"type": "array", "deprecated": True, "description": "the same as rejected, as "
                   "{index, error}; removed in 0.2"}}},
}

# Endpoints answering 201 Created.
CREATED = {("POST", "/api/users"), ("POST", "/api/users/{id}/tokens"), ("POST", "/api/sources")}


def _doc(handler: Any) -> tuple[str, str]:
    doc = inspect.getdoc(handler) or ""
    summary, _, rest = doc.partition("\n")
    return summary.strip(), rest.strip()


def _operation(method: str, path: str, handler: Any) -> dict[str, Any]:
    summary, description = _doc(handler)
    clean = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
    summary = summary or SUMMARIES.get((method, clean), "")
    roles = auth.roles_of(handler)
    operation: dict[str, Any] = {"summary": summary or f"{method} {path}",
                                 "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower())}"
                                 .rstrip("_")}
    if roles is not None:
        who = ", ".join(roles) if roles else "any signed-in user"
        description = (description + "\n\n" if description else "") + f"Requires: {who} (admin always)."
        operation["x-lantern-roles"] = list(roles)
        operation["security"] = [{"bearer": []}, {"session": [], "csrf": []}]
    else:
        operation["security"] = []
    if description:
        operation["description"] = description
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PARAM.findall(path)]
    if params:
        operation["parameters"] = params
    body = BODIES.get((method, clean))
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    ok: dict[str, Any] = {"description": "Created" if (method, clean) in CREATED else "OK"}
    if (method, clean) in RESPONSES:
        ok["content"] = {"application/json": {"schema": RESPONSES[(method, clean)]}}
    operation["responses"] = {"201" if (method, clean) in CREATED else "200": ok, "default": {
        "description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
    if path.startswith("/ws/"):
        operation["responses"]["101"] = {"description": "Switching to the websocket protocol"}
    return operation


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``app``'s current routes."""
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if route.method in {"HEAD", "OPTIONS", "*"} or not path.startswith(DOCUMENTED_PREFIXES):
            continue
        clean = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
        paths.setdefault(clean, {})[route.method.lower()] = _operation(route.method, path, route.handler)
    services = app["services"]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lantern (走马灯) API", "version": "0.1.0",
                 "description": "Public-opinion monitoring, tiered alerts and approved agent scripts. "
                                "Authenticate with `Authorization: Bearer <token>` (`lantern token create`) "
                                "or the console's session cookie plus the `X-CSRF-Token` header."},
        "servers": [{"url": services.settings["server.public_url"] or "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": _ERROR, "User": _USER},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth.SESSION_COOKIE},
                "csrf": {"type": "apiKey", "in": "header", "name": auth.CSRF_HEADER},
            },
        },
    }


@auth.require()
async def openapi_json(request: web.Request) -> web.StreamResponse:
    """This document: every HTTP endpoint and the roles it requires."""
    return web.json_response(build(request.app))
