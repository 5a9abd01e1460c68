"""No webhook token, signing secret or password ever appears in logs, errors or API output.

Every channel kind is configured with secrets and pointed at a hostile local
server that echoes the whole request (URL, query, body) back in its error
message; the alert path must still never store, log or return any of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fixtures.alerts.helpers import T0, Clock, add_user, make_services, settings_for, store_mention
from web.app import create_app

SECRETS = {
    "ding_token": "dtok-5f1e2d3c4b5a69788796",
    "ding_secret": "SECd1ngS3cr3tV4lue0123456789",
    "wecom_key": "wkey-0a1b2c3d-4e5f-6789",
    "feishu_token": "fhook-9z8y7x6w5v4u",
    "feishu_secret": "fsecret-Q1W2E3R4T5",
    "hook_path": "T0001-B0002-XyZsecretPath",
    "hook_secret": "whsec-a9s8d7f6g5h4",
    "hook_header": "Bearer hdr-token-77331",
    "smtp_password": "smtp-Pa55w0rd-never-show",
}


async def echo(request: web.Request) -> web.Response:
    body = (await request.read()).decode("utf-8", "replace")
    everything = f"{request.path_qs} {body} {dict(request.headers)}"
    if "robot" in request.path:
        return web.json_response({"errcode": 310000, "errmsg": everything})
    if "cgi-bin" in request.path:
        return web.json_response({"errcode": 93000, "errmsg": everything})
    if "hook/v2" in request.path:
        return web.json_response({"code": 19021, "msg": everything})
    return web.Response(status=500, text=everything)


@pytest.fixture
async def hostile() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def channels(server: TestServer) -> list[dict[str, Any]]:
    base = str(server.make_url("/"))
    return [
        {"name": "ding", "kind": "dingtalk", "url": base + "robot/send", "token": SECRETS["ding_token"],
         "secret": SECRETS["ding_secret"]},
        {"name": "wx", "kind": "wecom", "url": base + "cgi-bin/webhook/send", "key": SECRETS["wecom_key"]},
        {"name": "fs", "kind": "feishu", "url": base + "hook/v2", "token": SECRETS["feishu_token"],
         "secret": SECRETS["feishu_secret"]},
        {"name": "hook", "kind": "webhook", "url": f"{base}services/{SECRETS['hook_path']}",
         "secret": SECRETS["hook_secret"], "headers": {"Authorization": SECRETS["hook_header"]}},
        {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": 9, "security": "none", "sender": "a@x",
         "to": ["b@x"], "username": "lantern", "password": SECRETS["smtp_password"]},
    ]


async def test_no_secret_in_logs_errors_or_api(tmp_path: Path, hostile: TestServer, aiohttp_client: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    chans = channels(hostile)
    svc = await make_services(settings_for(
        tmp_path, incidents__group_wait_s=0, channels=chans,
        routes=[{"channels": [c["name"] for c in chans], "roles": ["manager"], "must_act": True, "health": True}]),
        Clock())
    try:
        _, token = await add_user(svc, "wang", "manager")
        headers = {"Authorization": f"Bearer {token}"}
        m = await store_mention(svc, title="鲜味楼食品安全事件", tier="P1", categories=("food_safety",))
        iid = (await svc.incidents.on_mentions([m]))[0].incident_id
        for offset in (0, 15, 40, 100, 400):
            await svc.alerts.tick(T0 + offset)
        await svc.alerts.health_alert("weibo", "failing", f"HTTP 403 from {chans[3]['url']}")
        await svc.alerts.tick(T0 + 500)
        client = await aiohttp_client(create_app(svc, manage_lifecycle=False))
        outputs = []
        for path in ("/api/routing", "/api/alerts?limit=1000", f"/api/incidents/{iid}", "/api/incidents",
                     "/api/plans"):
            resp = await client.get(path, headers=headers)
            assert resp.status == 200, path
            outputs.append(await resp.text())
        stored = await svc.db.read(lambda db: json.dumps(
            [list(r) for r in db.execute("select last_error, payload, recipient_label from alert_deliveries")],
            ensure_ascii=False))
        errors = await svc.db.read(lambda db: [r[0] for r in db.execute(
            "select last_error from alert_deliveries where last_error is not null")])
    finally:
        await svc.alerts.stop()
        svc.db.close()
    # Every channel failed for real, so the error path was exercised for each kind.
    joined = "\n".join(errors)
    for name in ("ding", "wx", "fs", "hook", "mail"):
        assert f"{name}:" in joined, name
    ours = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records
                     if not r.name.startswith("aiohttp.access"))  # the hostile server's own access log
    assert "310000" in joined and "***" in joined  # the echoed token was there and was redacted
    for label, secret in SECRETS.items():
        for where, text in (("logs", ours), ("database", stored), ("api", "\n".join(outputs))):
            assert secret not in text, f"{label} leaked into {where}"
