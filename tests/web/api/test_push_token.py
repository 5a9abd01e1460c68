"""Push-source tokens: shown once at creation, rotated by an admin, the old one refused at once."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.support_monitor import Clock, FakeClassifier
from web.app import create_app
from web.auth import users
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

FILE_TOKEN = "file-token-0123456789abcdef"



def settings_for(tmp_path: Path) -> Any:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    return settings.with_lists(sources=[{"name": "from-file", "kind": "push", "token": FILE_TOKEN}])


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[TestClient, dict[str, dict[str, str]], Services]]:
    clock = Clock()
    services = await build_services(settings_for(tmp_path), clock=clock, parts={Part.MONITOR},
                                    classifier=FakeClassifier())

    def seed(db: Any) -> dict[str, dict[str, str]]:
        headers = {}
        for name, role in (("boss", "manager"), ("amy", "agent"), ("root", "admin")):
            user = users.add_user(db, name, role, f"pw-{name}-long-secret", now=clock())
            headers[role] = {"Authorization": f"Bearer {users.create_token(db, user, 'test', now=clock())}"}
        return headers

    headers = await services.db.write(seed)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    yield client, headers, services
    await client.close()
    services.db.close()


async def push(client: TestClient, token: str) -> int:
    response = await client.post("/api/ingest", headers={"X-Lantern-Source-Token": token},
                                 json={"items": [{"id": token[:8], "title": "鲜味楼", "text": "门店有老鼠"}]})
    return response.status


async def test_token_shown_once_rotated_by_admin_old_one_refused_at_once(
        env: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client, headers, services = env
    caplog.set_level(logging.DEBUG)
    created = await client.post("/api/sources", json={"name": "crm-hook", "kind": "push"}, headers=headers["manager"])
    assert created.status == 201
    first = (await created.json())["source"]["token"]
    assert len(first) >= 16
    listed = await (await client.get("/api/sources", headers=headers["manager"])).json()
    hook = {s["name"]: s for s in listed["items"]}["crm-hook"]
    assert hook["token"] == "***" and first not in json.dumps(listed)  # never shown again
    assert await push(client, first) == 200

    for who, status in (("manager", 403), ("agent", 403)):
        assert (await client.post("/api/sources/crm-hook/token", headers=headers[who])).status == status
    assert (await client.post("/api/sources/crm-hook/token")).status == 401
    assert await push(client, first) == 200  # refused rotations changed nothing

    rotated = await client.post("/api/sources/crm-hook/token", headers=headers["admin"])
    assert rotated.status == 200 and rotated.headers["Cache-Control"] == "no-store"
    second = (await rotated.json())["token"]
    assert second != first and len(second) >= 16
    assert await push(client, first) == 401  # at once
    assert await push(client, second) == 200
    listed = await (await client.get("/api/sources", headers=headers["admin"])).json()
    assert second not in json.dumps(listed)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "crm-hook" in logged and first not in logged and second not in logged

    # The new token survives a restart (it is stored, not only in memory).
    again = await build_services(settings_for(tmp_path), clock=services.clock, parts={Part.MONITOR},
                                 classifier=FakeClassifier())
    try:
        await again.monitor.list_sources()
        assert again.monitor.push_source_for(second) == "crm-hook"
        assert again.monitor.push_source_for(first) is None
    finally:
        again.db.close()


async def test_rotation_refuses_what_it_cannot_rotate(env: Any) -> None:
    client, headers, _ = env
    made = await client.post("/api/sources", headers=headers["manager"],
                             json={"name": "feed", "kind": "rss", "url": "http://127.0.0.1:9/feed"})
    assert made.status == 201 and (await made.json())["source"]["token"] == ""
    refused = await client.post("/api/sources/feed/token", headers=headers["admin"])
    assert refused.status == 400 and "not a push source" in (await refused.json())["message"]
    assert (await client.post("/api/sources/nothing/token", headers=headers["admin"])).status == 404
    from_file = await client.post("/api/sources/from-file/token", headers=headers["admin"])
    assert from_file.status == 409 and "lantern.toml" in (await from_file.json())["message"]
    assert await push(client, FILE_TOKEN) == 200
