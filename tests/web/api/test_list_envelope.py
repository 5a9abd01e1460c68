"""Every list endpoint answers one envelope: ``{"items": [...]}`` (plus ``next_before`` where paged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.support_monitor import Clock, FakeClassifier
from web.app import create_app
from web.auth import users
from web.compose import Part, build_services
from web.platform.settings import load_settings

LISTS = ("/api/users", "/api/users/{id}/tokens", "/api/sources", "/api/mentions", "/api/incidents", "/api/alerts",
         "/api/silences", "/api/plans", "/api/scripts", "/api/console/incidents/1/mentions")


async def test_every_list_is_items(tmp_path: Path) -> None:
    clock = Clock()
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST, Part.ALERTS, Part.MONITOR},
                                    classifier=FakeClassifier())

    def seed(db: Any) -> tuple[int, str]:
        admin = users.add_user(db, "root", "admin", "root-password", now=clock())
        return admin.id, users.create_token(db, admin, "test", now=clock())

    admin_id, token = await services.db.write(seed)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    try:
        for path in LISTS:
            response = await client.get(path.format(id=admin_id), headers={"Authorization": f"Bearer {token}"})
            assert response.status == 200, path
            body = await response.json()
            lists = sorted(key for key, value in body.items() if isinstance(value, list))
            assert lists == ["items"], (path, lists)
        paged = await (await client.get("/api/mentions", headers={"Authorization": f"Bearer {token}"})).json()
        assert "next_before" in paged
    finally:
        await client.close()
        services.db.close()
