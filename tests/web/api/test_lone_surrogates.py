"""Text holding a lone UTF-16 surrogate (``"\\ud800"`` in JSON, e.g. an emoji cut in half by a client) is a
clear 400 naming the field on every JSON endpoint, never a 500 (found by QA on ``lantern demo``: creating or
editing a script, acknowledging or re-tiering an incident and adding a user all answered 500)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.web.api.test_scripts import BODY, Env, make_env


def cut(text: str) -> str:
    """JSON text with each ``@`` replaced by a lone surrogate (the first half of 😀, as JSON escapes it)."""
    return text.replace("@", "\\ud83d")


@pytest.fixture
async def env(tmp_path: Any) -> AsyncIterator[Env]:
    async for value in make_env(tmp_path):
        yield value


async def raw(env: Env, method: str, path: str, who: Any, text: str) -> tuple[int, Any]:
    headers = {**who.headers, "Content-Type": "application/json"}
    async with env.http.request(method, env.url(path), headers=headers, data=text.encode()) as resp:
        return resp.status, json.loads(await resp.text())


async def test_script_with_a_lone_surrogate_is_refused_naming_the_field_and_the_draft_is_kept(env: Env) -> None:
    status, error = await raw(env, "POST", "/api/scripts", env.wang, cut('{"title": "口径", "body": "您好@"}'))
    assert status == 400, error
    assert error["error"] == "bad_json" and error["field"] == "body"
    assert "body 含有无效字符" in error["message"] and "lone UTF-16 surrogate" in error["message"]
    assert (await env.call("GET", "/api/scripts", env.wang))["items"] == []  # nothing half-stored

    draft = await env.call("POST", "/api/scripts", env.wang, 201, json={"title": "口径", "body": BODY})
    status, error = await raw(env, "PUT", f"/api/scripts/{draft['id']}", env.wang,
                              cut('{"title": "口径@", "body": "x", "version": 1}'))
    assert status == 400 and error["field"] == "title", error
    kept = await env.call("GET", f"/api/scripts/{draft['id']}", env.wang)
    assert kept["body"] == BODY and kept["version"] == 1

    status, error = await raw(env, "POST", "/api/scripts", env.wang,
                              cut('{"title": "t", "body": "b", "audience": {"teams": ["ok", "x@"]}}'))
    assert status == 400 and error["field"] == "audience.teams[1]", error


async def test_whole_emoji_and_rtl_marks_are_kept(env: Env) -> None:
    text = "您好😀\u200fمرحبا\u200f"
    draft = await env.call("POST", "/api/scripts", env.wang, 201, json={"title": "口径", "body": text})
    assert (await env.call("GET", f"/api/scripts/{draft['id']}", env.wang))["body"] == text
