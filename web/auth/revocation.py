"""Principal changes: a revocation takes effect on every open connection, on every node, at once.

A :class:`PrincipalChange` says that something about one user's ability to
sign in changed: the user was deactivated, one API token was revoked, one
session ended (logout), every session ended (password change), or the
account changed in a way that changes what they see (role, team, skills,
site).  :func:`announce` applies it on this node - drops the principal
cache's entries and closes the user's affected ticker websockets and console
streams - and hands it to the fan-out (:mod:`web.auth.revocation_redis`, with
``redis.url``), so every other node applies it too.

Long-lived connections register here (:func:`hold`) with the credential they
were opened with (a :func:`web.auth.token_cache.cache_key`: kind and SHA-256,
never the secret) and a callback that closes them in one of two ways:

* ``END`` - the connection's credential no longer signs in: the client must
  not reconnect (the ticker shows 已退出 / session ended and goes to the
  login page);
* ``RECONNECT`` - the account is still valid but what it may see changed:
  the client reconnects at once and gets a fresh snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from broadcast.ws import CLOSE_RECONNECT, CLOSE_SIGNED_OUT, OnOpen, TickerSocket
from web.auth import users
from web.auth.middleware import AuthServices, auth_state, credential
from web.auth.users import User

log = logging.getLogger("lantern.revocation")

# Reasons, and what each does to open connections.
DEACTIVATED = "deactivated"  # every connection of the user ends
TOKEN_REVOKED = "token_revoked"  # noqa: S105 - a reason, not a secret: connections opened with that token end
LOGOUT = "logout"  # connections opened with that session end
PASSWORD = "password"  # noqa: S105 - a reason: every session ended (token connections stay)
CHANGED = "changed"  # role/team/skills/site changed: every connection reconnects
REACTIVATED = "reactivated"  # nothing open to close
REASONS = (DEACTIVATED, TOKEN_REVOKED, LOGOUT, PASSWORD, CHANGED, REACTIVATED)

END = "end"
RECONNECT = "reconnect"

# Closes one connection: (END or RECONNECT, the reason).  Must not block; it may schedule work.
Closer = Callable[[str, str], None]


@dataclass(frozen=True)
class PrincipalChange:
    user_id: int
    reason: str
    token_id: int | None = None
    # The one token or session concerned, as a cache key (kind and digest): set for TOKEN_REVOKED and LOGOUT.
    credential: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown principal change reason {self.reason!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "reason": self.reason, "token_id": self.token_id,
                "credential": self.credential}

    @classmethod
    def from_dict(cls, data: Any) -> PrincipalChange:
        """From :meth:`as_dict` (e.g. another node's message); ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a principal change is an object")
        user_id, token_id, credential = data.get("user_id"), data.get("token_id"), data.get("credential")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise ValueError("user_id must be an integer")
        if token_id is not None and (not isinstance(token_id, int) or isinstance(token_id, bool)):
            raise ValueError("token_id must be an integer or null")
        if credential is not None and not isinstance(credential, str):
            raise ValueError("credential must be a string or null")
        return cls(user_id, str(data.get("reason")), token_id, credential)

    def action_for(self, held: Held) -> str | None:
        """What this change does to one open connection of the user: END, RECONNECT or nothing."""
        if self.reason == DEACTIVATED:
            return END
        if self.reason == CHANGED:
            return RECONNECT
        if self.reason in (TOKEN_REVOKED, LOGOUT):
            return END if self.credential is not None and held.credential == self.credential else None
        if self.reason == PASSWORD:
            return END if (held.credential or "").startswith("session:") else None
        return None


@dataclass(eq=False)
class Held:
    """One open connection: whose it is, what it was opened with, how to close it."""

    user: User
    credential: str | None
    close: Closer


class Connections:
    """The open long-lived connections of this process, by user."""

    def __init__(self) -> None:
        self._by_user: dict[int, set[Held]] = {}

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_user.values())

    def hold(self, user: User, credential: str | None, close: Closer) -> Held:
        held = Held(user, credential, close)
        self._by_user.setdefault(user.id, set()).add(held)
        return held

    def release(self, held: Held) -> None:
        of_user = self._by_user.get(held.user.id)
        if of_user is not None:
            of_user.discard(held)
            if not of_user:
                del self._by_user[held.user.id]

    def of(self, user_id: int) -> list[Held]:
        return list(self._by_user.get(user_id, ()))

    def all(self) -> list[Held]:
        return [held for of_user in self._by_user.values() for held in of_user]


class ChangeForwarder(Protocol):
    """Sends a principal change to the other nodes (``web.auth.revocation_redis.ChangeFanout``)."""

    def forward_change(self, change: PrincipalChange) -> None: ...


class RevocationServices(AuthServices, Protocol):
    """What revocation needs of the services (``web.compose.Services``)."""

    connections: Connections | None

    @property
    def principal_fanout(self) -> ChangeForwarder | None: ...


def connections(services: RevocationServices) -> Connections:
    """The process's :class:`Connections` (made on first use)."""
    if services.connections is None:
        services.connections = Connections()
    return services.connections


def hold(services: RevocationServices, user: User, credential: str | None, close: Closer) -> Held:
    """Register an open connection; call :func:`release` when it ends."""
    return connections(services).hold(user, credential, close)


def release(services: RevocationServices, held: Held) -> None:
    connections(services).release(held)


def ticker_watch(request: web.Request) -> OnOpen:
    """For :func:`broadcast.ws.serve_ticker`: holds the signed-in user's ticker socket while it is open."""
    services, user, opened_with = request.app["services"], request["user"], credential(request)

    def opened(socket: TickerSocket) -> Callable[[], None]:
        def close(action: str, reason: str) -> None:
            socket.close(CLOSE_SIGNED_OUT if action == END else CLOSE_RECONNECT, reason)

        held = hold(services, user, opened_with, close)
        return lambda: release(services, held)

    return opened


def _close(held: Held, action: str, reason: str) -> None:
    try:
        held.close(action, reason)
    except Exception:  # one broken connection must not keep the others open
        log.exception("closing a connection of user %s failed", held.user.id)


def apply(services: RevocationServices, change: PrincipalChange) -> int:
    """Apply ``change`` on this node only: cache entries go, affected connections close. Returns how many closed."""
    cache = auth_state(services).cache
    if change.credential is not None:
        cache.forget_key(change.credential)
    cache.forget_user(change.user_id)
    registry = connections(services)
    closed = 0
    for held in registry.of(change.user_id):
        action = change.action_for(held)
        if action is None:
            continue
        registry.release(held)
        _close(held, action, change.reason)
        closed += 1
    if closed:
        log.info("user %s: %s; closed %d open connection(s)", change.user_id, change.reason, closed)
    return closed


def announce(services: RevocationServices, change: PrincipalChange) -> int:
    """Apply ``change`` here and send it to every other node (when a fan-out is wired)."""
    closed = apply(services, change)
    fanout = services.principal_fanout
    if fanout is not None:
        fanout.forward_change(change)
    return closed


async def recheck(services: RevocationServices) -> int:
    """Changes may have been missed (the fan-out was away): forget every cached answer and check each open
    connection's credential against the database; those that no longer sign in end, changed accounts reconnect."""
    auth_state(services).cache.clear()
    registry = connections(services)
    held_now = [held for held in registry.all() if held.credential is not None]
    now = services.clock()

    def current(db: Any) -> list[User | None]:
        found = []
        for held in held_now:
            kind, _, digest = (held.credential or "").partition(":")
            found.append(users.user_for_digest(db, kind, digest, now=now))
        return found

    closed = 0
    for held, user in zip(held_now, await services.db.read(current), strict=True):
        if user == held.user:
            continue
        registry.release(held)
        _close(held, END if user is None else RECONNECT, "recheck")
        closed += 1
    if closed:
        log.info("re-checked open connections after a fan-out outage: closed %d", closed)
    return closed
