"""Security headers on every response and the login rate limiter.

Headers are added in ``on_response_prepare`` rather than in a middleware, so
they also reach error pages, redirects raised as exceptions, static files
and websocket upgrades.

The content security policy allows no inline script at all: pages load ES
modules from ``/static`` and read their data from JSON data blocks
(``<script type="application/json">``, which browsers never execute).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

from aiohttp import web

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The embeddable widget is loaded by other origins (the agents' CRM desktop).
WIDGET_PATHS = ("/widget.js",)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: the usual headers, no caching of signed-in pages or API."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path in WIDGET_PATHS:
        # The CRM page on another origin must be able to load the script.
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if not request.path.startswith("/static/") and request.path not in WIDGET_PATHS:
        response.headers.setdefault("Cache-Control", "no-store")
    if request.app["services"].settings["auth.cookie_secure"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)


class LoginLimiter:
    """Login attempts allowed per key (user name + address) in a sliding minute.

    A second, much looser limit per address alone (``per_address_factor`` times
    the per-user limit) stops one address from trying many user names, while a
    whole floor behind one proxy address can still mistype at shift change.

    :meth:`attempt` checks the limits and counts the attempt in one step, before
    the password is checked: the caller awaits the (slow, threaded) argon2 check
    only with the attempt already counted, so concurrent guesses cannot all pass
    the check-then-record gap (issue 11: 30 simultaneous wrong passwords were all
    verified).  A success takes its attempt back and clears the user's record, so
    correct logins never use up the address's allowance.  ``clock`` is injected so
    tests need not wait a minute.
    """

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.time,
                 per_address_factor: int = 20, max_keys: int = 100_000) -> None:
        self.per_minute = max(1, int(per_minute))
        self.per_address = self.per_minute * max(1, per_address_factor)
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _keys(self, user: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        return (f"u:{user.lower()}|{address}", self.per_minute), (f"a:{address}", self.per_address)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.WINDOW_S:
            times.popleft()
        return times

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until another attempt is allowed; 0 when it is allowed now (nothing is counted)."""
        now = self.clock()
        waits = []
        for key, limit in self._keys(user, address):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[len(times) - limit] + self.WINDOW_S - now)
        return max(waits, default=0.0)

    def attempt(self, user: str, address: str) -> tuple[float, float]:
        """Count an attempt if one is allowed: ``(0.0, at)``; else ``(seconds to wait, 0.0)``, nothing counted.

        Pass ``at`` to :meth:`succeeded` when the password was right.  No await may sit
        between a caller's :meth:`attempt` and the decision to check the password.
        """
        wait = self.retry_after(user, address)
        if wait > 0:
            return wait, 0.0
        now = self.clock()
        if len(self._failures) > self.max_keys:
            self._prune(now)
        for key, _limit in self._keys(user, address):
            self._recent(key, now).append(now)
        return 0.0, now

    def succeeded(self, user: str, address: str, at: float | None = None) -> None:
        """Clear the user's record; with ``at`` (from :meth:`attempt`) the address gets its attempt back."""
        self._failures.pop(f"u:{user.lower()}|{address}", None)
        if at is not None:
            times = self._failures.get(f"a:{address}")
            if times is not None and at in times:
                times.remove(at)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
