"""Every JSON endpoint reads its body the same way: a clear 400 for anything but a JSON object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from web.api.bodies import json_object
from web.app import create_app
from web.compose import build_services
from web.platform.settings import load_settings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await json_object(request))

    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, parts=())
    app = create_app(services, manage_lifecycle=False)  # its error middleware answers the BadRequest
    app.router.add_post("/echo", echo)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c
    services.db.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object"), (b"\xff\xfe{", "not valid JSON")],
)
async def test_bad_bodies_are_a_json_400(client: TestClient, data: str | bytes, message: str) -> None:
    resp = await client.post("/echo", data=data, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = await resp.json()
    assert error["error"] == "bad_json" and message in error["message"]


async def test_object_and_empty_body(client: TestClient) -> None:
    assert await (await client.post("/echo", json={"a": "鲜味楼"})).json() == {"a": "鲜味楼"}
    assert await (await client.post("/echo")).json() == {}
