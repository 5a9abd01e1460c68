"""The one place errors become HTTP answers.

A handler raises; it never builds an error answer from an exception itself.
Any exception with the :class:`web.errors.HttpError` shape (every package's
errors have it: ``code``, ``status``, ``message_zh``, ``message_en``,
``details``) is answered with the JSON error body::

    {"error": code, "message": <in the request's language>, "message_zh": ..., "message_en": ..., **details}

The language is the request's (``?lang=``, the language cookie, else
``server.language``), as for pages.  aiohttp's own HTTP exceptions and
anything else pass through unchanged (a bug stays a 500 with a traceback in
the log).
"""

from __future__ import annotations

from aiohttp import web

from web.auth.middleware import Handler
from web.errors import HttpError
from web.platform import i18n


def error_body(exc: HttpError, language: str) -> dict[str, object]:
    """The JSON error body of ``exc`` for a reader of ``language``."""
    message = exc.message_zh if language == "zh-CN" else exc.message_en
    return {"error": exc.code, "message": message, "message_zh": exc.message_zh, "message_en": exc.message_en,
            **exc.details}


def error_response(request: web.Request, exc: HttpError) -> web.Response:
    return web.json_response(error_body(exc, i18n.request_language(request)), status=exc.status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        if not isinstance(exc, HttpError):
            raise
        return error_response(request, exc)
