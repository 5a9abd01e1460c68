"""Reading request bodies the same way in every handler."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from web.errors import BadRequest

_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad(message: str, **extra: str) -> BadRequest:
    return BadRequest("bad_json", message, **extra)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``; anything else raises :class:`BadRequest` (a 400)."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise _bad("请求体不是有效的 JSON (body is not valid JSON)") from None
    except RecursionError:
        raise _bad("请求体 JSON 嵌套过深 (JSON nested too deeply)") from None
    if not isinstance(body, dict):
        raise _bad("请求体必须是 JSON 对象 (body must be a JSON object)")
    where = _lone_surrogate(body)
    if where is not None:
        raise _bad(f"{where} 含有无效字符（不成对的 UTF-16 代理项，常见于截断的表情符号），请删除后重试 "
                   f"({where} holds an invalid character: a lone UTF-16 surrogate, e.g. from a cut emoji)",
                   field=where)
    return body


def _lone_surrogate(body: dict[str, Any]) -> str | None:
    """Where (``body``, ``audience.teams[0]``) the first string holding a lone surrogate is, or None.

    JSON may carry ``"\\ud800"``; Python decodes it to a string that cannot be encoded as UTF-8, so every
    handler further on (hashing, SQLite, logging) would fail with a 500 instead of telling the user.  A key
    holding one is named by its parent's path (the key itself cannot be printed).
    """
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(str(key)):
                    return path or "{}"
                stack.append((f"{path}.{key}" if path else str(key), item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None
