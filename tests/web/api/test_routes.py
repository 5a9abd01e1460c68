"""The route table mounts the routes of the parts a system has built, and the OpenAPI document follows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import add_account
from web.api import routes
from web.app import create_app
from web.compose import Part, build_services
from web.platform.settings import load_settings

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.mark.parametrize(("parts", "expected"), [
    (set(), {"core", "live", "pages", "users", "console"}),
    ({Part.BROADCAST}, {"core", "broadcast", "live", "pages", "users", "console"}),
])
async def test_only_the_parts_built_are_mounted(tmp_path: Path, parts: set[Part], expected: set[str]) -> None:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, parts=parts)
    client = TestClient(TestServer(create_app(services, manage_lifecycle=False)))
    await client.start_server()
    try:
        headers = (await add_account(services, "boss", "admin")).headers
        mounted = {(route.method, route.handler) for route in client.server.app.router.routes()}
        for part in routes.TABLE:
            table = {(method, handler) for method, _path, handler in part.routes}
            assert (table <= mounted) == (part.name in expected), part.name
            assert (table & mounted == set()) == (part.name not in expected), part.name
        document = await (await client.get("/api/openapi.json", headers=headers)).json()
        assert ("/api/scripts" in document["paths"]) == ("broadcast" in expected)
        assert "/api/sources" not in document["paths"] and "/api/incidents" not in document["paths"]
        # An unbuilt part's route is not there at all: 404, not a 500 from a missing service.
        assert (await client.get("/api/sources", headers=headers)).status == 404
    finally:
        await client.close()
        services.db.close()

