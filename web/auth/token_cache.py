"""In-process cache of who an API token or a session id belongs to.

Every API call and websocket connect names its user by a bearer token or a
session cookie; in a reconnect storm of thousands of agents looking each one
up in SQLite dominates.  :class:`PrincipalCache` keeps the answer for
``ttl_s`` seconds (``web.auth_cache_seconds``), keyed by the SHA-256 of the
secret (the secret itself is never kept).  A failed lookup is remembered
only briefly (``negative_ttl_s``), in its own smaller table, so a flood of
made-up tokens neither reaches the database on every request nor pushes real
users out of the cache.

Whatever makes a principal invalid or different on this node must say so:
:meth:`forget` (one token or session: logout, token revocation) or
:meth:`forget_user` (deactivation, password change, role/team/skills/site
change).  A lookup that was already running when such a change happened is
not stored, so it cannot put the old answer back.  :mod:`web.auth.revocation`
does both for every change and, with ``redis.url``, on every node;
without Redis other nodes see the change when their entry expires.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from web.auth.users import User, secret_digest

Clock = Callable[[], float]
# What a lookup found: the user (None: nobody) and, for sessions, when the session itself ends.
Found = tuple[User | None, float | None]


@dataclass(frozen=True, slots=True)
class _Entry:
    user: User | None
    expires_at: float


def cache_key(kind: str, secret: str) -> str:
    """``kind`` ("token" or "session") and the SHA-256 of ``secret``: never the secret itself."""
    return kind + ":" + secret_digest(secret)


class PrincipalCache:
    """Bounded, TTL-limited map from token/session hash to :class:`User` (or "nobody")."""

    def __init__(self, clock: Clock, *, ttl_s: float = 30.0, negative_ttl_s: float = 2.0,
                 max_entries: int = 100_000, max_negative: int = 10_000) -> None:
        self.clock = clock
        self.ttl_s = max(0.0, ttl_s)
        self.negative_ttl_s = max(0.0, min(negative_ttl_s, self.ttl_s))
        self.max_entries = max_entries
        self.max_negative = max_negative
        self._found: OrderedDict[str, _Entry] = OrderedDict()
        self._missing: OrderedDict[str, _Entry] = OrderedDict()
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._found) + len(self._missing)

    def get(self, key: str) -> tuple[bool, User | None]:
        """(True, user-or-None) for a live entry, (False, None) when the database must be asked."""
        now = self.clock()
        for table in (self._found, self._missing):
            entry = table.get(key)
            if entry is None:
                continue
            if entry.expires_at <= now:
                del table[key]
                break
            table.move_to_end(key)
            self.hits += 1
            return True, entry.user
        self.misses += 1
        return False, None

    def put(self, key: str, user: User | None, *, ends_at: float | None = None) -> None:
        """Remember ``user`` (None: no such token/session) until the TTL or ``ends_at``, whichever is first."""
        ttl = self.ttl_s if user is not None else self.negative_ttl_s
        if ttl <= 0:
            return
        expires_at = self.clock() + ttl
        if ends_at is not None:
            expires_at = min(expires_at, ends_at)
        table, limit = (self._found, self.max_entries) if user is not None else (self._missing, self.max_negative)
        (self._missing if user is not None else self._found).pop(key, None)
        table[key] = _Entry(user, expires_at)
        table.move_to_end(key)
        while len(table) > limit:
            table.popitem(last=False)

    async def lookup(self, kind: str, secret: str, load: Callable[[], Awaitable[Found]]) -> User | None:
        """The user for ``secret``, from the cache or from ``load()`` (whose answer is then cached)."""
        key = cache_key(kind, secret)
        hit, user = self.get(key)
        if hit:
            return user
        generation = self._generation
        user, ends_at = await load()
        if generation == self._generation:  # nothing was invalidated while the database answered
            self.put(key, user, ends_at=ends_at)
        return user

    def forget(self, kind: str, secret: str) -> None:
        """Drop one token or session (revoked, logged out)."""
        self.forget_key(cache_key(kind, secret))

    def forget_key(self, key: str) -> None:
        """Drop one token or session by its :func:`cache_key` (all another node can tell us)."""
        self._generation += 1
        self._found.pop(key, None)
        self._missing.pop(key, None)

    def forget_user(self, user_id: int) -> None:
        """Drop every token and session of one user (deactivated, password or role/team/skills/site changed)."""
        self._generation += 1
        for key in [k for k, entry in self._found.items() if entry.user is not None and entry.user.id == user_id]:
            del self._found[key]

    def clear(self) -> None:
        self._generation += 1
        self._found.clear()
        self._missing.clear()
