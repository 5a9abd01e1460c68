"""Request authentication, role checks and CSRF protection.

A request is authenticated by one of:

* ``Authorization: Bearer <api token>`` (API clients, scripts, load tests);
* the ``lantern_session`` cookie set by ``/login`` (console and ticker pages).

Cookie-authenticated requests that change state (POST, PUT, PATCH, DELETE)
must carry the session's CSRF token in the ``X-CSRF-Token`` header or a
``_csrf`` form field: a cross-site form cannot know it.  Bearer requests are
not exposed to CSRF (browsers never add that header on their own).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Protocol
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning

from web.auth import users
from web.auth.client_address import CLIENT_KEY, TrustedProxies, parse_networks
from web.auth.token_cache import Found, PrincipalCache, cache_key
from web.auth.users import User
from web.platform import i18n
from web.platform.settings import Settings
from web.platform.storage import Database

SESSION_COOKIE = "lantern_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Paths read by programs: an anonymous request gets 401 JSON there, not a redirect to the login page.
MACHINE_PREFIXES = ("/api/", "/ws", "/metrics")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def csrf_token(secret: str, session: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


@dataclass
class AuthState:
    """Per-process authentication helpers built from the settings: the principal cache and the proxies."""

    cache: PrincipalCache
    proxies: TrustedProxies


class AuthServices(Protocol):
    """What authentication needs of the services (``web.compose.Services``)."""

    auth: AuthState | None

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Callable[[], float]: ...


def auth_state(services: AuthServices) -> AuthState:
    """The :class:`AuthState` of ``services`` (made on first use)."""
    state = services.auth
    if state is None:
        settings = services.settings
        state = AuthState(
            cache=PrincipalCache(services.clock, ttl_s=float(settings["web.auth_cache_seconds"])),
            proxies=TrustedProxies(parse_networks(settings["web.trusted_proxies"])))
        services.auth = state
    return state


async def user_for_token(services: AuthServices, token: str) -> User | None:
    """The active user owning API token ``token`` (cached for ``web.auth_cache_seconds``)."""

    async def load() -> Found:
        return await services.db.read(lambda db: users.user_for_token(db, token)), None

    return await auth_state(services).cache.lookup("token", token, load)


async def user_for_session(services: AuthServices, session: str) -> User | None:
    """The user of live session ``session`` (cached, never past the session's own expiry)."""
    now = services.clock()

    async def load() -> Found:
        found = await services.db.read(lambda db: users.session_user(db, session, now=now))
        return found if found else (None, None)

    return await auth_state(services).cache.lookup("session", session, load)


def forget_session(services: AuthServices, session: str) -> None:
    """Call after a session ends (logout, login replacing it): it stops working at once on this node."""
    auth_state(services).cache.forget("session", session)


def forget_user(services: AuthServices, user_id: int) -> None:
    """Call after a user's tokens, sessions, role, team, skills or site changed, or they were deactivated."""
    auth_state(services).cache.forget_user(user_id)


def _presented(request: web.Request) -> tuple[str, str] | None:
    """("token" | "session", the secret) that ``request`` presents, if any."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "token", header[7:].strip()
    token_param = request.query.get("token")
    if token_param and request.path.startswith("/ws"):
        # Websocket clients outside a browser may not be able to set headers.
        return "token", token_param
    session = request.cookies.get(SESSION_COOKIE)
    if session and request.path.startswith("/ws") and not same_origin(request):
        # Cross-site websocket hijacking: browsers send cookies on websocket handshakes from any
        # page of the same site, and websockets are not bound by CORS.  Cookies count only from
        # our own pages; other origins (the CRM widget) authenticate with ?token=.
        return None
    return ("session", session) if session else None


async def authenticate(request: web.Request) -> tuple[User | None, str | None]:
    """The user behind ``request`` and the session id if it came from the cookie."""
    services = request.app["services"]
    presented = _presented(request)
    if presented is None:
        return None, None
    kind, secret = presented
    if kind == "token":
        return await user_for_token(services, secret), None
    user = await user_for_session(services, secret)
    return user, secret if user else None


def credential(request: web.Request) -> str | None:
    """What a signed-in ``request`` signed in with, as a :func:`cache_key` (a digest, never the secret).

    Long-lived connections (ticker websockets, console streams) keep it, so
    revoking that one token or ending that one session closes them.
    """
    presented = _presented(request) if request.get("user") is not None else None
    return cache_key(*presented) if presented else None


def client_address(request: web.Request) -> str | None:
    """The client's address: ``X-Forwarded-For`` is believed only from a ``web.trusted_proxies`` peer."""
    proxies = auth_state(request.app["services"]).proxies
    return proxies.client(request.remote, request.headers.getall("X-Forwarded-For", ()))


def same_origin(request: web.Request) -> bool:
    """True when the request carries no Origin (not a browser page) or our own scheme://host."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto")
    schemes = {request.scheme, forwarded} if forwarded else {request.scheme}
    return any(origin == f"{scheme}://{request.host}" for scheme in schemes)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    client = client_address(request)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotAppKeyWarning)
        request[CLIENT_KEY] = client  # for the access log, which sees the request as it arrived
    if client is not None and client != request.remote:
        # Behind a trusted proxy: handlers (the login limiter) see the client as request.remote.
        request = request.clone(remote=client)
    user, session = await authenticate(request)
    with warnings.catch_warnings():
        # Handlers read request["user"] / request["session"] as plain keys.
        warnings.simplefilter("ignore", NotAppKeyWarning)
        request["user"] = user
        request["session"] = session
    if session and request.method in UNSAFE_METHODS and request.path != "/login":
        expected = csrf_token(request.app["services"].secret, session)
        given = request.headers.get(CSRF_HEADER, "")
        if not given and request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            form = await request.post()
            given = str(form.get("_csrf", ""))
        if not hmac.compare_digest(given, expected):
            return json_error(403, "csrf", "CSRF token missing or wrong; reload the page")
    return await handler(request)


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def require(*roles: str) -> Callable[[Handler], Handler]:
    """Decorator: the request needs a signed-in user with one of ``roles`` (admin always passes).

    With no roles any signed-in user passes.  API paths answer 401/403 in
    JSON; pages redirect to the login page.
    """

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user: User | None = request.get("user")
            if user is None:
                if request.path.startswith(MACHINE_PREFIXES):
                    return json_error(401, "unauthenticated", "sign in or send an API token")
                raise web.HTTPFound("/login?" + urlencode({"next": request.path_qs}))
            if roles and not user.has_role(*roles):
                if request.path.startswith(MACHINE_PREFIXES):
                    return json_error(403, "forbidden", f"requires role: {' or '.join(roles)}")
                return forbidden_page(request, user)
            return await handler(request)

        wrapper.__lantern_roles__ = roles  # type: ignore[attr-defined]
        return wrapper

    return decorate


def forbidden_page(request: web.Request, user: User) -> web.Response:
    """A 403 page in the user's language with a link to the page they can use (a browser, not raw JSON)."""
    lang = i18n.request_language(request)
    home, label = ("/", i18n.t(lang, "nav.incidents")) if user.has_role("manager", "oncall") \
        else ("/ticker", i18n.t(lang, "nav.ticker"))
    body = (f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
            '<link rel="stylesheet" href="/static/lantern.css"><title>403</title></head>'
            '<body class="login-page"><main class="login-box">'
            f'<p class="form-error no-permission">{html.escape(i18n.t(lang, "common.forbidden"))}</p>'
            f'<p><a href="{home}">{html.escape(label)}</a></p></main></body></html>')
    return web.Response(status=403, text=body, content_type="text/html", charset="utf-8")


def public(handler: Handler) -> Handler:
    """Mark a handler as intentionally open to anonymous users (checked by a test)."""
    handler.__lantern_public__ = True  # type: ignore[attr-defined]
    return handler


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, *,
               max_age: int, samesite: str = "Lax") -> None:
    """Set an HttpOnly cookie for the whole site; Secure when ``auth.cookie_secure`` is on."""
    secure = bool(request.app["services"].settings["auth.cookie_secure"])
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite=samesite,
                        secure=secure)


def roles_of(handler: Any) -> tuple[str, ...] | None:
    """The roles a handler requires (``()`` = any signed-in user), or None if it is not protected."""
    return getattr(handler, "__lantern_roles__", None)


def is_public(handler: Any) -> bool:
    return bool(getattr(handler, "__lantern_public__", False))
