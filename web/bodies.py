"""Reading request bodies the same way in every handler."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": "bad_json", "message": message}, ensure_ascii=False),
                              content_type="application/json")


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``; anything else is a 400 with a JSON error."""
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
    return body
