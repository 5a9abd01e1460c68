"""The composition root: builds every part of Lantern and wires them together.

Each package is wired by one ``web/wiring/*.py`` module listed in ``WIRING``.
A wiring module exposes::

    async def wire(services: Services) -> None   # build the package's objects, attach them

and may append coroutines to ``services.on_start`` / ``services.on_stop``.
Wiring runs in order, so a later module may use what an earlier attached.
HTTP routes are not the wiring's: :mod:`web.api.routes` mounts those of the parts built.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from infra.redis import RedisLink
from web.auth import schema as auth_schema
from web.auth import users
from web.platform.settings import Settings
from web.platform.storage import Database

WIRING: tuple[str, ...] = (
    "web.wiring.classifier",
    "web.wiring.broadcast",
    "web.wiring.alerts",
    "web.wiring.monitor",
    "web.realtime.console_stream",
    "web.auth.revocation_redis",
)

Clock = Callable[[], float]
log = logging.getLogger("lantern.settings")


@dataclass
class Services:
    """Everything a request handler or a command may need, built once per process."""

    settings: Settings
    db: Database
    clock: Clock
    secret: str = ""
    redis: RedisLink | None = None  # this node's link to the shared Redis ([redis] url); None: one node only
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Filled by the wiring modules; typed loosely so ``web`` stays the only
    # place that knows every package.
    classifier: Any = None
    monitor: Any = None
    incidents: Any = None
    alerts: Any = None
    scripts: Any = None
    hub: Any = None
    live: Any = None  # web.realtime.console_events.LiveHub: the console's event stream
    extras: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> None:
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        for hook in reversed(self.on_stop):
            await hook()


def migration_sets() -> list[Any]:
    """Every package's migration set, in dependency order."""
    from monitor import schema as monitor_schema

    sets: list[Any] = [*auth_schema.MIGRATIONS, *monitor_schema.MIGRATIONS]
    for name in WIRING:
        module = importlib.import_module(name)
        sets.extend(getattr(module, "MIGRATIONS", ()))
    return sets


def open_database(settings: Settings) -> Database:
    db = Database(settings["storage.path"])
    db.migrate(migration_sets())
    return db


def redis_link(settings: Settings) -> RedisLink | None:
    """The one link (and node id) every cross-node feature of this node shares; None without ``redis.url``."""
    return RedisLink(settings["redis.url"], settings["redis.prefix"]) if settings["redis.url"] else None


async def build_services(settings: Settings, *, clock: Clock = time.time, db: Database | None = None,
                         wiring: tuple[str, ...] = WIRING) -> Services:
    """Open the database, apply migrations and wire every package (nothing is started yet)."""
    owned = db is None
    db = db or open_database(settings)
    try:
        secret = settings["auth.secret_key"] or await db.write(lambda d: users.app_secret(d, "auth"))
        for warning in settings.warnings:
            log.warning("%s", warning)
        services = Services(settings=settings, db=db, clock=clock, secret=secret, redis=redis_link(settings))
        for name in wiring:
            module = importlib.import_module(name)
            await module.wire(services)
    except BaseException:
        if owned:
            db.close()
        raise
    return services
