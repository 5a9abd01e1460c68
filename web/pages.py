"""HTML pages: the manager console, the login form and the agent ticker.

Pages are rendered from ``web/templates`` by a deliberately tiny engine:
``{{name}}`` inserts an HTML-escaped value, ``{{t:key}}`` a translated text
(:mod:`web.platform.i18n`), ``{{json:name}}`` a value as JSON that is safe inside a
``<script type="application/json">`` data block.  There is no inline script
anywhere, so the content security policy can forbid it.

The pages' routes are in the route table, :mod:`web.api.routes`.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

from web.auth import middleware as auth
from web.auth import revocation, security, users
from web.auth.token_cache import cache_key
from web.auth.users import User
from web.platform import i18n

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LOGIN_NONCE_COOKIE = "lantern_login"
LIMITER: web.AppKey[security.LoginLimiter] = web.AppKey("lantern_login_limiter", security.LoginLimiter)
_PLACEHOLDER = re.compile(r"\{\{\s*(?:(t|json):)?([\w.]+)\s*\}\}")
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
                  ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json"}


@cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def json_for_script(value: Any) -> str:
    """JSON that cannot close its ``<script>`` element or open a comment."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(template_name: str, language: str, /, **values: Any) -> str:
    template = _template(template_name)

    def substitute(match: re.Match[str]) -> str:
        kind, key = match.group(1), match.group(2)
        if kind == "t":
            return html.escape(i18n.t(language, key))
        if kind == "json":
            return json_for_script(values[key])
        return html.escape(str(values.get(key, "")))

    return _PLACEHOLDER.sub(substitute, template)


def _other(lang: str) -> str:
    return "en" if lang == "zh-CN" else "zh-CN"


def html_response(request: web.Request, body: str, *, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    i18n.remember_language(request, response)
    return response


def safe_next(value: str | None, user: User | None = None) -> str:
    """A local path to go to after login; anything else (another host, ``//x``) is ignored."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value \
            and not value.startswith("/login") and not value.startswith("/logout"):
        return value
    return "/ticker" if user is not None and user.role == "agent" else "/"


def _page_data(request: web.Request, user: User, lang: str) -> dict[str, Any]:
    return {"lang": lang, "user": user.as_dict(), "strings": i18n.STRINGS[lang],
            "ws_path": "/ws/ticker", "roles": list(users.ROLES)}


# -- console and ticker ----------------------------------------------------
@auth.require("manager", "oncall")
async def console(request: web.Request) -> web.StreamResponse:
    """The manager console (a single page; views are chosen by the URL fragment)."""
    return _signed_in_page(request, "console.html")


@auth.require()
async def index(request: web.Request) -> web.StreamResponse:
    """``/``: the console for managers, on-call and admins; agents go to their ticker."""
    user: User = request["user"]
    if not user.has_role("manager", "oncall"):
        # Keep the query: ``/?lang=en`` (a bookmark, the language link) must still switch the ticker's language.
        raise web.HTTPFound("/ticker" + (f"?{request.query_string}" if request.query_string else ""))
    return await console(request)


@auth.require()
async def ticker(request: web.Request) -> web.StreamResponse:
    """The agents' full-width script ticker (any signed-in user may watch it)."""
    return _signed_in_page(request, "ticker.html")


def _signed_in_page(request: web.Request, template: str) -> web.Response:
    user: User = request["user"]
    lang = i18n.request_language(request)
    session = request.get("session")
    csrf = auth.csrf_token(request.app["services"].secret, session) if session else ""
    body = render(template, lang, lang=lang, other_lang=_other(lang), csrf=csrf,
                  user_display=user.display_name or user.name, user_role=i18n.t(lang, f"role.{user.role}"),
                  page=_page_data(request, user, lang))
    return html_response(request, body)


# -- login and logout ------------------------------------------------------
def _login_form(request: web.Request, *, error: str = "", name: str = "", next_path: str = "",
                status: int = 200) -> web.Response:
    lang = i18n.request_language(request)
    nonce = secrets.token_urlsafe(24)
    body = render("login.html", lang, lang=lang, other_lang=_other(lang), login_csrf=nonce,
                  next=next_path, name=name, error=error)
    response = html_response(request, body, status=status)
    auth.set_cookie(request, response, LOGIN_NONCE_COOKIE, nonce, max_age=3600, samesite="Strict")
    return response


@auth.public
async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in form; a signed-in user goes straight on."""
    user = request.get("user")
    if user is not None and request.get("session"):
        raise web.HTTPFound(safe_next(request.query.get("next"), user))
    return _login_form(request, next_path=safe_next(request.query.get("next")))


@auth.public
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the password (rate-limited per user and address) and start a session."""
    services = request.app["services"]
    lang = i18n.request_language(request)
    form = await request.post()
    name = str(form.get("name", "")).strip()[:64]
    password = str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "")))
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    if not nonce or not secrets.compare_digest(nonce, str(form.get("_csrf", ""))):
        return _login_form(request, error=i18n.t(lang, "login.csrf"), name=name, next_path=next_path,
                           status=403)
    limiter = request.app[LIMITER]
    address = request.remote or "unknown"
    # Counted before the password check, with no await in between (issue 11).
    wait, attempt_at = limiter.attempt(name, address)
    if wait > 0:
        response = _login_form(request, error=i18n.t(lang, "login.limited", seconds=int(wait) + 1),
                               name=name, next_path=next_path, status=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = await services.db.read(lambda db: users.verify_password(db, name, password))
    if user is None:
        return _login_form(request, error=i18n.t(lang, "login.failed"), name=name, next_path=next_path,
                           status=401)
    limiter.succeeded(name, address, attempt_at)
    now = services.clock()
    ttl = float(services.settings["auth.session_hours"]) * 3600
    old = request.get("session")

    def start(db: Any) -> str:
        if old:
            users.end_session(db, old)  # never keep a session id chosen before login
        users.prune_sessions(db, now=now)
        return users.create_session(db, user, now=now, ttl_s=ttl)

    session = await services.db.write(start)
    if old:
        _session_ended(services, request.get("user"), old)
    response = web.HTTPSeeOther(safe_next(next_path if next_path != "/" else None, user))
    auth.set_cookie(request, response, auth.SESSION_COOKIE, session, max_age=int(ttl))
    response.del_cookie(LOGIN_NONCE_COOKIE, path="/")
    raise response


@auth.public
async def logout_form(request: web.Request) -> web.StreamResponse:
    """A button that signs out (signing out changes state, so it is a CSRF-checked POST)."""
    session = request.get("session")
    if not session:
        raise web.HTTPFound("/login")
    lang = i18n.request_language(request)
    csrf = auth.csrf_token(request.app["services"].secret, session)
    return html_response(request, render("logout.html", lang, lang=lang, csrf=csrf))


@auth.public
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (the auth middleware has already checked its CSRF token)."""
    session = request.get("session")
    if session:
        await request.app["services"].db.write(lambda db: users.end_session(db, session))
        _session_ended(request.app["services"], request.get("user"), session)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    raise response


def _session_ended(services: revocation.RevocationServices, user: User | None, session: str) -> None:
    """The session stops working at once, and what was opened with it closes, on every node."""
    if user is None:
        auth.forget_session(services, session)
        return
    revocation.announce(services, revocation.PrincipalChange(
        user.id, revocation.LOGOUT, credential=cache_key("session", session)))


# -- static files and the widget -------------------------------------------
@auth.public
async def static(request: web.Request) -> web.StreamResponse:
    """Files under ``web/static`` (scripts, styles); nothing outside it, no listings."""
    relative = request.match_info["path"]
    target = (STATIC / relative).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise web.HTTPNotFound()
    response = web.FileResponse(target, headers={"Cache-Control": "no-cache"})
    content_type = _CONTENT_TYPES.get(target.suffix)
    if content_type:
        response.content_type = content_type
    return response


@cache
def widget_script() -> str:
    """``widget.js``: the ticker core and the widget bootstrap as one classic script."""
    core = (STATIC / "ticker-core.js").read_text(encoding="utf-8")
    core = re.sub(r"^export ", "", core, flags=re.MULTILINE)
    bootstrap = (STATIC / "widget.js").read_text(encoding="utf-8")
    css = (STATIC / "ticker.css").read_text(encoding="utf-8")
    return ("(function () {\n\"use strict\";\n"
            f"const LANTERN_STRINGS = {json_for_script(i18n.STRINGS)};\n"
            f"const LANTERN_CSS = {json_for_script(css)};\n"
            f"{core}\n{bootstrap}\n}})();\n")


@auth.public
async def widget(request: web.Request) -> web.StreamResponse:
    """The embeddable ticker for the CRM desktop: ``<script src=".../widget.js" data-token=...>``."""
    return web.Response(text=widget_script(), content_type="text/javascript", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})
