"""The console's editors: routes and plans round-trip through GET /api/console/editable/* and the PUT APIs.

What the JSON editor is pre-filled with must be accepted back unchanged, a bad
edit is refused with the validator's message (zh-CN and English) and changes
nothing, and only admins may read the editable form or save it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import FakeClock
from web.app import create_app
from web.auth import users
from web.compose import Part, build_services
from web.platform.settings import load_settings

NOW = 1_700_000_000.0
CHANNELS = [{"name": "desk", "kind": "console"}]
ROUTES = [{"name": "p1-desk", "tiers": ["P1"], "roles": ["manager"], "channels": ["desk"], "must_act": True}]
PLANS = [{"name": "食品安全预案", "tiers": ["P1", "P2"], "categories": ["food_safety"],
          "checklist": ["通知法务与公关"], "scripts": [{"title": "统一口径", "body": "您好，关于「{title}」……"}],
          "notify": {"roles": ["oncall"], "channels": ["desk"]}}]


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str], services: Any) -> None:
        self.client, self.tokens, self.services = client, tokens, services

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = await self.client.request(method, path, json=body,
                                             headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return response.status, json.loads(await response.text())


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db")).with_lists(
        channels=CHANNELS, routes=ROUTES, plans=PLANS)
    services = await build_services(settings, clock=FakeClock(NOW), parts={Part.ALERTS})

    def seed(db: Any) -> dict[str, str]:
        tokens = {}
        for name, role in (("root", "admin"), ("mgr", "manager")):
            user = users.add_user(db, name, role, f"{name}-password", now=NOW)
            tokens[name] = users.create_token(db, user, "t", now=NOW)
        return tokens

    tokens = await services.db.write(seed)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    yield Api(client, tokens, services)
    await client.close()
    services.db.close()


@pytest.mark.parametrize(("kind", "path"), [("routes", "/api/routing"), ("plans", "/api/plans")])
async def test_editable_form_round_trips(api: Api, kind: str, path: str) -> None:
    status, data = await api.call("root", "GET", f"/api/console/editable/{kind}")
    assert status == 200
    first = data[kind]
    assert first[0]["name"] == (ROUTES if kind == "routes" else PLANS)[0]["name"]
    status, saved = await api.call("root", "PUT", path, {kind: first})
    assert status == 200, saved
    status, again = await api.call("root", "GET", f"/api/console/editable/{kind}")
    assert again[kind] == first  # saving the pre-filled editor unchanged changes nothing


async def test_plan_notify_route_is_editable(api: Api) -> None:
    _, data = await api.call("root", "GET", "/api/console/editable/plans")
    notify = data["plans"][0]["notify"]
    assert notify["roles"] == ["oncall"] and notify["channels"] == ["desk"]
    assert "plan" not in notify and "tiers" not in notify


async def test_bad_edit_is_refused_with_the_reason_and_changes_nothing(api: Api) -> None:
    _, before = await api.call("root", "GET", "/api/routing")
    bad = [{**ROUTES[0], "channels": ["nowhere"]}]
    status, error = await api.call("root", "PUT", "/api/routing", {"routes": bad})
    assert status == 400 and error["error"] == "invalid"
    assert "未配置的渠道" in error["message"] and "unknown channels" in error["message"]
    status, error = await api.call("root", "PUT", "/api/plans", {"plans": [{"name": "x", "bogus": 1}]})
    assert status == 400 and "unknown key" in error["message"] and "valid keys): name" in error["message"]
    _, after = await api.call("root", "GET", "/api/routing")
    assert after["routes"] == before["routes"]


async def test_only_admins_edit(api: Api) -> None:
    for kind in ("routes", "plans"):
        status, _ = await api.call("mgr", "GET", f"/api/console/editable/{kind}")
        assert status == 403
    status, _ = await api.call("mgr", "PUT", "/api/routing", {"routes": ROUTES})
    assert status == 403
    status, data = await api.call("mgr", "GET", "/api/routing")
    assert status == 200 and data["routes"][0]["name"] == "p1-desk"  # managers read


async def test_editable_without_alerting_is_unavailable(tmp_path: Path) -> None:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "x.db"))
    services = await build_services(settings, clock=FakeClock(NOW), parts=())
    token = await services.db.write(lambda db: users.create_token(
        db, users.add_user(db, "root", "admin", "root-password", now=NOW), "t", now=NOW))
    async with TestClient(TestServer(create_app(services))) as client:
        response = await client.get("/api/console/editable/routes", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 404
    services.db.close()
