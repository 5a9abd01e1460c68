"""Every package's errors reach HTTP through the one middleware: their own status and code, a message in the
request's language, both messages beside it; and no handler maps an exception to an answer by its text."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import add_account
from tests.support_monitor import FakeClassifier
from web.app import create_app
from web.compose import Part, build_services
from web.platform.settings import load_settings

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
ROOT = Path(__file__).resolve().parents[3]


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token

    async def error(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        return response.status, await response.json()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    services = await build_services(settings, parts={Part.BROADCAST, Part.ALERTS, Part.MONITOR},
                                    classifier=FakeClassifier())
    client = TestClient(TestServer(create_app(services, manage_lifecycle=False)))
    await client.start_server()
    try:
        yield Api(client, (await add_account(services, "boss", "admin")).token)
    finally:
        await client.close()
        services.db.close()


async def assert_answer(api: Api, method: str, path: str, status: int, code: str, zh: str, en: str,
                        **kwargs: Any) -> None:
    """The error in Chinese (the server's language), and in English with ?lang=en; both texts always present."""
    separator = "&" if "?" in path else "?"
    for url, language_message in ((path, zh), (f"{path}{separator}lang=en", en)):
        got_status, body = await api.error(method, url, **kwargs)
        assert (got_status, body["error"]) == (status, code), (url, body)
        assert body["message"] == language_message, (url, body)
        assert (body["message_zh"], body["message_en"]) == (zh, en), (url, body)


async def test_monitor_error(api: Api) -> None:
    await assert_answer(api, "PATCH", "/api/sources/nope", 404, "not_found",
                        "没有名为 'nope' 的来源", "no such source: 'nope'", json={"interval_s": 60})


async def test_incident_error(api: Api) -> None:
    await assert_answer(api, "POST", "/api/incidents/404/ack", 404, "not_found", "没有编号为 404 的事件",
                        "no incident 404", json={})


async def test_alerting_error(api: Api) -> None:
    await assert_answer(api, "DELETE", "/api/silences/404", 404, "not_found", "没有编号为 404 的静默规则",
                        "no silence 404")


async def test_broadcast_error(api: Api) -> None:
    await assert_answer(api, "GET", "/api/scripts/404", 404, "not_found", "话术 404 不存在",
                        "script 404 does not exist")


async def test_classifier_error(api: Api) -> None:
    services = api.client.server.app["services"]
    await services.db.write(lambda db: db["mentions"].insert(
        {"id": 1, "source": "weibo", "external_id": "a", "title": "", "text": "门店老鼠 太恶心", "fetched_at": 1.0})
        and None)
    await assert_answer(api, "POST", "/api/console/corrections", 400, "invalid",
                        "情感必须是 negative、neutral、positive 之一，而不是 'furious'",
                        "sentiment must be one of ('negative', 'neutral', 'positive'), not 'furious'",
                        json={"mention_id": 1, "field": "sentiment", "value": "furious"})


async def test_web_error(api: Api) -> None:
    user = {"name": "zhang", "role": "agent", "password": "long-enough"}
    assert (await api.client.post("/api/users", json=user,
                                  headers={"Authorization": f"Bearer {api.token}"})).status == 201
    await assert_answer(api, "POST", "/api/users", 409, "conflict", "用户名 'zhang' 已存在",
                        "user 'zhang' already exists", json=user)


async def test_the_language_cookie_chooses_the_message_too(api: Api) -> None:
    status, body = await api.error("GET", "/api/scripts/404", cookies={"lantern_lang": "en"})
    assert status == 404 and body["message"] == "script 404 does not exist"


# -- the static rule ------------------------------------------------------------------------------------------------
def _web_modules() -> list[Path]:
    return sorted((ROOT / "web").rglob("*.py"))


def _mentions_exception_text(node: ast.AST, name: str) -> bool:
    """``str(exc)``, ``repr(exc)``, ``exc.args`` or ``f"{exc}"``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("str", "repr") \
                and any(isinstance(a, ast.Name) and a.id == name for a in sub.args):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "args" and isinstance(sub.value, ast.Name) \
                and sub.value.id == name:
            return True
        if isinstance(sub, ast.FormattedValue) and isinstance(sub.value, ast.Name) and sub.value.id == name:
            return True
    return False


def _is_class_name(node: ast.AST) -> bool:
    """``type(x).__name__`` or ``x.__class__.__name__``."""
    return isinstance(node, ast.Attribute) and node.attr == "__name__" and (
        (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and node.value.func.id == "type")
        or (isinstance(node.value, ast.Attribute) and node.value.attr == "__class__"))


def violations(source: str, where: str) -> list[str]:
    """Where ``source`` maps an exception to an answer by its text or class name, or builds an error body itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        # Deciding on a class name: `type(exc).__name__ == "InvalidCorrectionError"` (naming it in a message is fine).
        if isinstance(node, ast.Compare) and any(_is_class_name(side) for side in (node.left, *node.comparators)):
            found.append(f"{where}:{node.lineno}: decides on a class name")
        if not isinstance(node, ast.ExceptHandler):
            continue
        for sub in ast.walk(node):
            # Deciding on the message: `"already exists" in str(exc)`, `str(exc) == ...`, `if "x" in f"{exc}"`.
            if node.name and isinstance(sub, ast.Compare) and _mentions_exception_text(sub, node.name):
                found.append(f"{where}:{sub.lineno}: compares the text of {node.name}")
            # Answering it by hand: the middleware builds every JSON error body.
            if isinstance(sub, ast.Call) and (getattr(sub.func, "id", None) == "json_error"
                                              or getattr(sub.func, "attr", None) == "json_error"):
                found.append(f"{where}:{sub.lineno}: a JSON error built in an except block")
    return found


def test_no_handler_maps_an_exception_by_its_text_or_class_name() -> None:
    found = [v for path in _web_modules()
             for v in violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == []


def test_the_static_rule_sees_what_it_forbids() -> None:
    """The rule finds each shape it forbids (so an empty result above means something)."""
    bad = """
try:
    pass
except Exception as exc:
    if "already exists" in str(exc) or f"{exc}" == "x":
        status = 409
    if type(exc).__name__ == "X" or exc.__class__.__name__ == "Y":
        auth.json_error(400, "x", "y")
    return json_error(404, "not_found", "z")
"""
    found = violations(bad, "bad.py")
    assert sum("compares the text" in v for v in found) == 2
    assert sum("class name" in v for v in found) == 2
    assert violations("message = f'bad {type(value).__name__}'\n", "named.py") == []
    assert sum("JSON error built" in v for v in found) == 2
    assert violations("try:\n    pass\nexcept ValueError:\n    raise BadRequest('x', 'y') from None\n", "ok.py") == []
