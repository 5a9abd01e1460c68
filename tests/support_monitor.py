"""Helpers shared by the monitor tests: a fake classifier, a controllable feed server, a service factory,
the monitor's API as a test client."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.config import Defaults
from monitor.mentions import StoredMention
from monitor.service import MonitorService
from tests.conftest import FakeClock
from web.api import routes
from web.app import MIDDLEWARES
from web.compose import Services
from web.platform.storage import Database

FIXTURES = Path(__file__).parent / "fixtures" / "monitor"
NEGATIVE_WORDS = ("老鼠", "恶心", "过期", "投诉", "拒绝", "退款", "上吐下泻")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class FakeResult:
    sentiment: str
    negative_probability: float
    categories: tuple[str, ...]
    tier: str
    reasons: tuple[str, ...]
    official: bool = False


class FakeClassifier:
    """Same shape as ``classifiers.Classifier.classify_batch``; negative if a keyword appears."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def classify_batch(self, texts: list[str], signals: list[Any]) -> list[FakeResult]:
        assert len(texts) == len(signals)
        self.calls += 1
        if self.fail:
            raise RuntimeError("classifier down")
        out = []
        for text in texts:
            hits = tuple(w for w in NEGATIVE_WORDS if w in text)
            out.append(FakeResult("negative" if hits else "neutral", 0.9 if hits else 0.2,
                                  ("food_safety",) if "老鼠" in text or "过期" in text else (),
                                  "P2" if hits else "P4", tuple(f"关键词：{w}" for w in hits)))
        return out


class Clock(FakeClock):
    """The shared test clock, starting at a fixed moment."""

    def __init__(self, start: float = 1_795_428_000.0) -> None:  # 2026-11-23 18:00 +08, after the fixtures
        super().__init__(start)


@dataclass
class Route:
    """What the feed server answers on one path; tests change it between polls."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    hang: bool = False
    hits: int = 0
    seen_headers: list[dict[str, str]] = field(default_factory=list)


class FeedServer:
    """A real aiohttp server on 127.0.0.1 serving ``routes[path]``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        self._release = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path_qs) or self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        route.hits += 1
        route.seen_headers.append(dict(request.headers))
        if route.hang:
            await self._release.wait()
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            return web.Response(status=304, headers={"ETag": route.etag})
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        return web.Response(status=route.status, body=route.body, headers=headers, content_type=None) \
            if "Content-Type" in headers else \
            web.Response(status=route.status, body=route.body, headers=headers,
                         content_type=route.content_type.split(";")[0],
                         charset=route.content_type.split("charset=")[1] if "charset=" in route.content_type else None)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def release(self) -> None:
        self._release.set()

    async def __aenter__(self) -> FeedServer:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        await self.server.close()


def open_db(path: Path) -> Database:
    """A database with only the tables the monitor needs (users + monitor migrations)."""
    from monitor.schema import migrations
    from web.auth import schema as auth_schema

    db = Database(path)
    db.migrate([auth_schema.migrations, migrations])
    return db


@dataclass
class Harness:
    db: Database
    clock: Clock
    classifier: FakeClassifier
    batches: list[list[StoredMention]] = field(default_factory=list)
    alerts: list[tuple[str, str, str]] = field(default_factory=list)

    def service(self, sources: list[dict[str, Any]], **defaults: Any) -> MonitorService:
        async def on_new(batch: list[StoredMention]) -> None:
            self.batches.append(batch)

        async def on_alert(name: str, kind: str, message: str) -> None:
            self.alerts.append((name, kind, message))

        import random

        return MonitorService(self.db, self.classifier, self.clock, sources=sources,
                              defaults=Defaults(**defaults), on_new_mentions=on_new, on_health_alert=on_alert,
                              rng=random.Random(1))

    @property
    def announced(self) -> list[StoredMention]:
        return [m for b in self.batches for m in b]

    def rows(self, sql: str = "SELECT * FROM mentions ORDER BY id", params: Any = ()) -> list[dict[str, Any]]:
        return self.db.read_sync(lambda db: list(db.query(sql, params)))


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> Any:
    """Poll ``predicate`` on the loop (for scheduler-driven runs); no timing assertion."""

    async def run() -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached")
            await asyncio.sleep(0.01)

    return run()


async def monitor_client(aiohttp_client: Any, services: Services) -> TestClient:
    """The monitor's routes alone behind the auth middleware, ``services`` started and stopped with the app."""
    app = web.Application(middlewares=MIDDLEWARES)
    with warnings.catch_warnings():  # web.app uses the same plain key
        warnings.simplefilter("ignore")
        app["services"] = services
    routes.mount(app, services, [routes.MONITOR])

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await services.start()
        yield
        await services.stop()

    app.cleanup_ctx.append(lifecycle)
    client: TestClient = await aiohttp_client(app)
    return client
