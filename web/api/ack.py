"""Acknowledge links and the alert's 查看详情 link: pages a person reaches from a robot message or an e-mail.

``/ack/{token}`` is public on purpose: the signed single-use token is the
credential, so on-call can acknowledge from DingTalk / WeCom / Feishu or an
e-mail without signing in.  ``GET`` only shows a confirm page (mail scanners
and IM link previews fetch links); its button ``POST``s to the same URL,
which acknowledges once.  The acknowledgement records the *person* (issue 12):

* a personal link (made for one named person) or a delivery to one person
  acknowledges as them;
* a group link (a robot message naming nobody) asks who: a signed-in console
  user acknowledges as themselves, anyone else signs in (and comes back to
  the link) or picks their name from the people the alert was for.

Either way an optional comment (who owns it, what happens next) goes with it
and is shown on the incident, in the console and in the follow-up messages.

``/incidents/{id}`` is the 查看详情 link: it needs a sign-in and survives it
(the login comes back to it), then opens the incident in the console (a URL
fragment such as ``/console#/incidents/7`` would be lost at login).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from monitor.alerting.acklinks import person_of
from monitor.alerting.errors import AckLinkError
from monitor.alerting.sender import payload_of
from monitor.incidents import queries as incident_queries
from monitor.incidents.errors import IllegalTransitionError, IncidentError
from web.auth import users
from web.auth.middleware import csrf_token, public, require
from web.auth.users import User

ACTING_ROLES = ("manager", "oncall", "admin")
_HEAD = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex"><link rel="stylesheet" href="/static/lantern.css"><title>{title}</title></head>
<body class="login-page"><main class="login-box ack-page"><h1>{title}</h1>"""
_PAGE = _HEAD + """<p>{message}</p>{extra}<p><a href="{details}">打开事件详情 (open the incident)</a></p>
</main></body></html>"""
_CONFIRM = _HEAD + """<p>{message}</p><form method="post" action="{action}" class="stack">{csrf}{who}
<label>备注（所有人可见，例如谁负责、下一步）(comment, shown to everyone)
<textarea name="comment" maxlength="500" rows="3"></textarea></label>
<button type="submit" class="primary">确认处理 (Acknowledge)</button></form>
<p><small>打开链接不会确认事件，请点击按钮。(Opening this link does not acknowledge; press the button.)</small></p>
</main></body></html>"""
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def page(title: str, message: str, status: int = 200, *, incident_id: int | None = None,
         extra: str = "") -> web.Response:
    details = f"/incidents/{incident_id}" if incident_id else "/console"
    body = _PAGE.format(title=html.escape(title), message=html.escape(message), extra=extra,
                        details=html.escape(details))
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=_NO_STORE)


def link_error(exc: AckLinkError) -> web.Response:
    titles = {"used": "链接已使用 (link already used)", "expired": "链接已过期 (link expired)"}
    return page(titles.get(exc.reason, "链接无效 (invalid link)"), str(exc), exc.status)


def _label(person: dict[str, Any] | User | None, fallback: str) -> str:
    if person is None:
        return fallback
    if isinstance(person, User):
        return person.display_name or person.name
    return str(person.get("display_name") or person.get("name") or fallback)


def _candidates(db: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Whom a group link may be acknowledged as: the people the alert named, else everyone who acts on alerts."""
    named = [str(m.get("user")) for m in payload_of(row).get("mention") or [] if m.get("user")]
    people = [p for p in users.list_users(db) if p["role"] in ACTING_ROLES]
    if named:
        chosen = [p for p in people if p["name"] in named]
        if chosen:
            return chosen
    return people[:100]


async def _who(request: web.Request, token: str, row: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """(user name acknowledging or "", how it is known, the names to pick from when nobody is known)."""
    services = request.app["services"]
    person = person_of(token)
    if person:
        return person, "personal_link", []
    if str(row["recipient"]).startswith("user:"):
        return str(row["recipient"])[5:], "personal_link", []
    me: User | None = request.get("user")
    if me is not None and request.get("session") and me.has_role(*ACTING_ROLES):
        return me.name, "signed_in", []
    return "", "", await services.db.read(lambda db: _candidates(db, row))


async def _incident(services: Any, incident_id: int) -> tuple[str, str]:
    found = await services.db.read(lambda db: incident_queries.heading(db, incident_id))
    return found or ("", "")


@public
async def ack_confirm(request: web.Request) -> web.Response:
    """GET: check the link and ask for confirmation (and who, when the link names nobody); changes nothing."""
    services = request.app["services"]
    token = request.match_info["token"]
    try:
        row = await services.alerts.check_link(token)
    except AckLinkError as exc:
        return link_error(exc)
    title, tier = await _incident(services, row["incident_id"])
    name, _how, candidates = await _who(request, token, row)
    session = request.get("session")
    csrf = (f'<input type="hidden" name="_csrf" value="{html.escape(csrf_token(services.secret, session))}">'
            if session else "")  # a signed-in browser must pass the console's CSRF check too
    head = f"确认处理事件 #{row['incident_id']}（{tier}）：{title}。"
    if name:
        person = await services.db.read(lambda db: users.find_user(db, name))
        message = f"{head}确认人：{_label(person, name)} (acknowledge as this person)"
        who = ""
    else:
        login = html.escape("/login?" + urlencode({"next": f"/ack/{token}"}))
        message = f"{head}此链接发给了群组，请说明您是谁。(This link went to a group: say who you are.)"
        options = "".join(f'<option value="{html.escape(str(p["name"]))}">{html.escape(_label(p, ""))}</option>'
                          for p in candidates)
        who = (f'<p><a class="button primary" href="{login}">登录后确认 (sign in to acknowledge)</a></p>'
               f'<label>或选择您的姓名 (or pick your name)<select name="who" required>'
               f'<option value="">—</option>{options}</select></label>')
    body = _CONFIRM.format(title=html.escape("确认处理事件 (acknowledge incident)"), message=html.escape(message),
                           action=html.escape(f"/ack/{token}"), csrf=csrf, who=who)
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=_NO_STORE)


@public
async def ack_link(request: web.Request) -> web.Response:
    """POST: acknowledge the incident as the person the link or the form names, with an optional comment."""
    services = request.app["services"]
    token = request.match_info["token"]
    form = await request.post() if request.content_type in ("application/x-www-form-urlencoded",
                                                            "multipart/form-data") else {}
    comment = str(form.get("comment", "")).strip()[:500]
    try:
        row = await services.alerts.check_link(token)
    except AckLinkError as exc:
        return link_error(exc)
    name, how, candidates = await _who(request, token, row)
    if not name:
        picked = str(form.get("who", ""))
        if picked not in {str(p["name"]) for p in candidates}:
            return page("请说明您是谁 (who is acknowledging?)", "请登录，或在确认页选择您的姓名后再确认。"
                        "(Sign in, or pick your name on the confirm page.)", 400, incident_id=row["incident_id"])
        name, how = picked, "picked_name"
    person = await services.db.read(lambda db: users.find_user(db, name))
    if person is None:
        return page("无法确认 (cannot acknowledge)", f"用户 {name} 不存在或已停用 (no such active user)", 404,
                    incident_id=row["incident_id"])
    actor = f"user:{person.name}"
    try:
        row = await services.alerts.redeem_link(token, actor)
    except AckLinkError as exc:
        return link_error(exc)
    incident_id = row["incident_id"]
    try:
        await services.incidents.acknowledge(incident_id, actor, comment, via=how, delivery=row["id"])
    except IllegalTransitionError:
        by = await services.db.read(lambda db: incident_queries.acknowledged_by(db, incident_id))
        owner = await services.db.read(lambda db: users.find_user(db, by.removeprefix("user:")))
        return page("事件已处理 (already handled)", f"事件 #{incident_id} 已被确认或处理（{_label(owner, by)}），"
                    "无需重复操作。(already acknowledged or handled)", incident_id=incident_id)
    except IncidentError as exc:
        return page("无法确认 (cannot acknowledge)", str(exc), exc.status)
    said = f"备注：{comment}。" if comment else ""
    return page("已确认 (acknowledged)", f"事件 #{incident_id} 已由 {_label(person, name)} 确认，升级已停止。{said}"
                "(acknowledged; escalation stopped)", incident_id=incident_id)


@require("manager", "oncall")
async def incident_link(request: web.Request) -> web.StreamResponse:
    """The 查看详情 link of an alert: opens the incident in the console, after a sign-in if needed."""
    raise web.HTTPFound(f"/console#/incidents/{int(request.match_info['id'])}")
