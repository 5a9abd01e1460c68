"""Security headers, static files, the widget script, templates and translations."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import FakeClock, add_account
from web import pages
from web.app import create_app
from web.auth import users
from web.compose import build_services
from web.platform import i18n
from web.platform.settings import load_settings

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, clock=FakeClock(1_700_000_000.0), parts=())

    def seed(db: Any) -> str:
        user = users.add_user(db, "mgr", "manager", "manager-password", display_name="<b>王经理</b>", now=1.0)
        return users.create_token(db, user, "t", now=1.0)

    client = TestClient(TestServer(create_app(services)))
    client.token = await services.db.write(seed)  # type: ignore[attr-defined]
    await client.start_server()
    yield client
    await client.close()
    services.db.close()


async def test_security_headers_on_pages_errors_and_redirects(client: TestClient) -> None:
    for path in ("/login", "/nope", "/ticker", "/healthz"):
        response = await client.get(path, allow_redirects=False)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert (await client.get("/login")).headers["Cache-Control"] == "no-store"


async def test_pages_have_no_inline_script(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {client.token}"}  # type: ignore[attr-defined]
    for path in ("/login", "/console", "/ticker"):
        html = await (await client.get(path, headers=headers)).text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"<[^>]+\son\w+\s*=", html), "inline event handler"
        assert not re.search(r"<[^>]+\sstyle\s*=", html), "inline style"
        assert "javascript:" not in html


async def test_user_text_is_escaped_in_pages(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {client.token}"}  # type: ignore[attr-defined]
    html = await (await client.get("/console", headers=headers)).text()
    assert "<b>王经理</b>" not in html
    assert "&lt;b&gt;王经理&lt;/b&gt;" in html
    block = re.search(r'<script type="application/json" id="lantern-page">(.*?)</script>', html, re.S)
    assert block is not None and "<" not in block.group(1)
    data = json.loads(block.group(1))
    assert data["user"]["display_name"] == "<b>王经理</b>"
    assert data["strings"]["ticker.disconnected"] == "连接已断开，话术可能已过期"


async def test_static_files_and_no_traversal(client: TestClient) -> None:
    response = await client.get("/static/ticker-core.js")
    assert response.status == 200 and response.content_type == "text/javascript"
    assert (await client.get("/static/lantern.css")).content_type == "text/css"
    for evil in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/..%2fpages.py", "/static/nope.js"):
        assert (await client.get(evil)).status == 404, evil


async def test_widget_is_one_classic_script(client: TestClient) -> None:
    response = await client.get("/widget.js")
    assert response.status == 200 and response.content_type == "text/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = await response.text()
    assert body.startswith("(function () {") and body.rstrip().endswith("})();")
    assert not re.search(r"^\s*(export|import)\s", body, re.M)
    assert "class Ticker" in body and "LANTERN_CSS" in body and "</script" not in body.lower()


async def test_console_page_needs_a_console_role_and_ticker_any_user(client: TestClient) -> None:
    headers = (await add_account(client.server.app["services"], "a1", "agent")).headers
    assert (await client.get("/console", headers=headers)).status == 403
    assert (await client.get("/ticker", headers=headers)).status == 200


def test_both_languages_have_the_same_keys() -> None:
    assert set(i18n.STRINGS["zh-CN"]) == set(i18n.STRINGS["en"])
    assert all(text.strip() for table in i18n.STRINGS.values() for text in table.values())


def test_every_translation_key_used_by_templates_and_scripts_exists() -> None:
    used: set[str] = set()
    for template in pages.TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\{\{t:([\w.]+)\}\}", template.read_text(encoding="utf-8")))
    for script in pages.STATIC.glob("*.js"):
        used |= set(re.findall(r"""\bt\("([\w.]+)"[,)]""", script.read_text(encoding="utf-8")))
    missing = used - set(i18n.STRINGS["zh-CN"])
    assert not missing, missing


def test_language_normalisation() -> None:
    assert i18n.normalise("zh_cn") == "zh-CN"
    assert i18n.normalise("en-US") == "en"
    assert i18n.normalise("fr") is None
    assert i18n.t("en", "login.limited", seconds=5) == "Too many attempts; try again in 5 s"


def test_json_for_script_cannot_break_out() -> None:
    text = pages.json_for_script({"x": "</script><script>alert(1)</script> & <!--"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["x"].startswith("</script>")


def test_safe_next() -> None:
    assert pages.safe_next("/ticker?x=1") == "/ticker?x=1"
    for bad in ("//evil.example", "https://evil.example/", "/\\evil", "", None, "/logout"):
        assert pages.safe_next(bad) == "/"


async def test_an_agent_sent_from_the_console_to_the_ticker_keeps_the_language(client: TestClient) -> None:
    """QA: an agent opening ``/?lang=en`` landed on a Chinese ticker (the redirect dropped ``lang``)."""
    services = client.server.app["services"]
    token = await services.db.write(lambda db: users.create_token(
        db, users.add_user(db, "ag", "agent", "agent-password", display_name="张坐席", now=1.0), "t", now=1.0))
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.get("/?lang=en", headers=headers, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/ticker?lang=en"
    page = await (await client.get("/?lang=en", headers=headers)).text()
    assert 'lang="en"' in page and html.escape(i18n.t("en", "ticker.active")) in page
    assert (await client.get("/", headers=headers, allow_redirects=False)).headers["Location"] == "/ticker"
