"""Shared fixtures: a controllable clock, settings on a temporary database, users and apps, and the local
servers many tests talk to (a fake robot webhook, an aiosmtpd inbox, the Redis on 127.0.0.1:6379)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher

from tests.support_servers import REDIS_URL, Inbox, free_port
from web.auth import users
from web.compose import Services, build_services
from web.platform.settings import Settings, load_settings

if TYPE_CHECKING:
    from tests.fixtures.alerts.helpers import Robot


class FakeClock:
    """A clock tests move by hand: ``clock()`` returns epoch seconds."""

    def __init__(self, start: float | None = None) -> None:
        self.now = start if start is not None else time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same argon2id code path at a test-sized cost (production keeps argon2's defaults).

    Modules that sign in with passwords opt in: ``pytestmark = pytest.mark.usefixtures("cheap_password_hashing")``.
    """
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}).with_overrides(storage__path=str(tmp_path / "lantern.db"))


def with_lists(settings: Settings, **lists: list[dict[str, Any]]) -> Settings:
    """``settings`` with ``[[sources]]``/``[[channels]]``/... tables replaced."""
    return settings.with_lists(**lists)


@dataclass
class Account:
    user: users.User
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def add_account(services: Services, name: str, role: str, team: str = "") -> Account:
    password = f"pw-{name}-secret"
    now = services.clock()

    def txn(db: Any) -> Account:
        user = users.add_user(db, name, role, password, team=team, now=now)
        return Account(user, password, users.create_token(db, user, "test", now=now))

    return await services.db.write(txn)


@pytest.fixture
async def services_factory(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """``await services_factory(settings=..., clock=..., parts=..., classifier=...)`` -> Services, closed afterwards."""
    made: list[Services] = []

    async def make(settings: Settings = settings, **kwargs: Any) -> Services:
        services = await build_services(settings, **kwargs)
        made.append(services)
        return services

    yield make
    for services in made:
        services.db.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def robot() -> AsyncIterator[Robot]:
    """A local robot webhook server (tests.fixtures.alerts.helpers.Robot), closed afterwards."""
    from tests.fixtures.alerts.helpers import Robot  # that module imports this one

    r = await Robot().start()
    yield r
    await r.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    """A plain aiosmtpd server on 127.0.0.1 and the inbox it delivers to."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A fresh key prefix on the Redis at REDIS_URL (the test is skipped when it is not there); its keys go after."""
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception:
        await client.aclose()
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    name = f"lantern-test:{uuid.uuid4().hex}"
    yield name
    keys = [k async for k in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
