"""Errors of the web layer, and the shape every package's errors share for HTTP.

LanternWebError
├── ConfigError        a setting or the config file is invalid
├── AuthError          login, token, user or session problems (message safe to show)
│   ├── UserExists     the user name is taken                         409
│   ├── AlreadyActive  the user is active already                     409
│   └── NoSuchUser     no (active) user / API token with that id      404 (also a NotFound)
├── NotFound           a requested object does not exist              404
├── BadRequest         the request itself is malformed (JSON, query)  400, with its own ``code``
└── Unavailable        that part of the system is not running         503

Every package's errors (``monitor/errors.py``, ``classifiers/errors.py``,
``broadcast/errors.py``, this module) carry what :class:`HttpError` names:
``code`` (stable, for API clients), ``status`` (the HTTP status), the message
in Chinese and English, and ``details`` (extra JSON fields such as the
invalid ``field``).  The packages do not import ``web``: the middleware
(:mod:`web.api.error_middleware`) recognises the shape, not a base class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class HttpError(Protocol):
    """An error that says how an HTTP API answers it."""

    code: str
    status: int
    message_zh: str
    message_en: str
    details: Mapping[str, object]


class LanternWebError(Exception):
    """Base class of every error raised by ``web``.

    ``message`` is used for both languages unless ``message_zh``/``message_en``
    are given; given both, the message defaults to ``"中文 (English)"``.
    """

    code = "web_error"
    status = 400

    def __init__(self, message: str = "", *, message_zh: str = "", message_en: str = "",
                 **details: object) -> None:
        super().__init__(message or f"{message_zh} ({message_en})")
        self.message_zh, self.message_en = message_zh or str(self), message_en or str(self)
        self.details: Mapping[str, object] = details


class ConfigError(LanternWebError):
    """The configuration is invalid; the message says which setting and why."""

    code = "config_error"
    status = 500


class AuthError(LanternWebError):
    """Authentication or authorisation failed, or a user/token change was refused."""

    code = "bad_request"
    status = 400


class NotFound(LanternWebError):
    """The requested object does not exist."""

    code = "not_found"
    status = 404


class UserExists(AuthError):
    code = "conflict"
    status = 409


class AlreadyActive(AuthError):
    code = "conflict"
    status = 409


class NoSuchUser(NotFound, AuthError):
    """No user (or no active user, or no API token) with that id."""


class BadRequest(LanternWebError):
    """The request is malformed; ``code`` names how (``bad_json``, ``invalid``, ``bad_param`` ...)."""

    def __init__(self, code: str, message: str = "", *, message_zh: str = "", message_en: str = "",
                 **details: object) -> None:
        super().__init__(message, message_zh=message_zh, message_en=message_en, **details)
        self.code = code


class Unavailable(LanternWebError):
    """The part of the system that would answer is not running."""

    code = "unavailable"
    status = 503
