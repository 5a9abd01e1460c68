"""Every route of the fully wired app is role-protected or deliberately public, and enforced.

The static check reads the marks ``@require`` / ``@public`` leave on handlers;
the dynamic check sends real requests as nobody and as an agent and expects
the door to stay shut wherever the marks say so.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import add_account
from web.app import create_app
from web.auth import middleware as auth
from web.compose import build_services
from web.platform.settings import load_settings

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


# Public on purpose: login itself, health checks, the widget script and static assets (no data in any);
# alert acknowledge links and the push-ingest webhook check their own signed token / source secret.
EXPECTED_PUBLIC = {"/login", "/logout", "/healthz", "/widget.js", "/static/{path}", "/ack/{token}", "/api/ingest"}


def routes(app: web.Application) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        found.append((route.method, path, route.handler))
    return found


def concrete_urls(app: web.Application) -> dict[tuple[str, str], str]:
    """A URL that matches each route: path variables become 1, word choices their first word."""
    urls = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        pattern = info.get("pattern")
        url = path
        if pattern is not None:
            choices = dict(re.findall(r"\(\?P<(\w+)>([\w|]+)\)", pattern.pattern))
            url = re.sub(r"\{(\w+)\}", lambda m, c=choices: c.get(m.group(1), "1").split("|")[0], path)
        urls[(route.method, path)] = url
    return urls


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, )
    client = TestClient(TestServer(create_app(services, manage_lifecycle=False)))
    await client.start_server()
    yield client
    await client.close()
    services.db.close()


async def test_every_route_is_protected_or_deliberately_public(client: TestClient) -> None:
    app = client.server.app
    seen = routes(app)
    assert len(seen) > 10
    unmarked = [(m, p) for m, p, h in seen if auth.roles_of(h) is None and not auth.is_public(h)]
    assert unmarked == [], f"routes neither @require(...) nor @public: {unmarked}"
    public = {re.sub(r"\{(\w+):[^}]*\}", r"{\1}", p) for m, p, h in seen if auth.is_public(h)}
    assert public <= EXPECTED_PUBLIC, f"unexpected public routes: {public - EXPECTED_PUBLIC}"


async def test_anonymous_requests_are_refused_everywhere_protected(client: TestClient) -> None:
    checked = 0
    urls = concrete_urls(client.server.app)
    for method, path, handler in routes(client.server.app):
        if auth.is_public(handler):
            continue
        url = urls[(method, path)]
        response = await client.request(method, url, allow_redirects=False)
        if path.startswith(("/api/", "/ws", "/metrics")):
            assert response.status == 401, f"{method} {url} -> {response.status}"
        else:
            assert response.status == 302, f"{method} {url} -> {response.status}"
            assert response.headers["Location"].startswith("/login?next=")
        checked += 1
    assert checked > 10


async def test_agents_get_403_where_their_role_is_not_allowed(client: TestClient) -> None:
    headers = (await add_account(client.server.app["services"], "agent7", "agent")).headers
    checked = 0
    urls = concrete_urls(client.server.app)
    for method, path, handler in routes(client.server.app):
        roles = auth.roles_of(handler)
        if roles is None or not roles or "agent" in roles:
            continue
        url = urls[(method, path)]
        response = await client.request(method, url, headers=headers, allow_redirects=False)
        assert response.status == 403, f"{method} {url} -> {response.status}"
        checked += 1
    assert checked > 5


async def test_openapi_documents_every_api_route_of_the_wired_app(client: TestClient) -> None:
    from web.api import openapi

    doc = openapi.build(client.server.app)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for method, path, _handler in routes(client.server.app):
        clean = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)
        if clean.startswith(("/api/", "/ws/")):
            assert (method, clean) in documented, (method, clean)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] != f"{method.upper()} {path}", f"{method} {path} has no summary"
