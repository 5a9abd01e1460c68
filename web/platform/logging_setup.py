"""Logging for ``lantern serve``: plain text or structured JSON (``server.log_format``).

JSON lines carry ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``msg`` and any
``extra={...}`` fields, plus ``exc`` for tracebacks.  Every record goes
through :class:`RedactingFilter` first, so a webhook token, a password, an
API token or a session cookie that slips into a message is masked before it
reaches any handler.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp import web
from aiohttp.web_log import AccessLogger

from monitor.alerting.acklinks import mask_path
from web.errors import ConfigError

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

# Values that must never be logged; each pattern keeps its group 1 and masks the rest.
_SECRET_PATTERNS = (
    re.compile(r"(\blt_)[A-Za-z0-9_\-]{8,}"),  # Lantern API tokens
    re.compile(r"((?:access_token|key|token|secret|sign|password|passwd|pwd|api_key)=)[^&\s\"']+",
               re.IGNORECASE),
    re.compile(r"([\"']?(?:password|secret|token|authorization|cookie|smtp_password)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\"',\s}&]+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9_\-.=]+", re.IGNORECASE),
    re.compile(r"(lantern_session=)[^;\s]+"),
    re.compile(r"(/ack/)[A-Za-z0-9_.\-]+"),  # single-use acknowledge links
)
MASK = "***"


def redact(text: str) -> str:
    """``text`` with anything that looks like a secret replaced by ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message and in string ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: Any, *, stream: TextIO | None = None) -> logging.Handler:
    """Configure the root logger from ``server.log_format`` / ``server.log_level``; returns the handler."""
    fmt = str(settings["server.log_format"]).lower()
    level = str(settings["server.log_level"]).upper()
    if fmt not in {"text", "json"}:
        raise ConfigError(f"server.log_format must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_lantern", False):
            root.removeHandler(old)
    handler._lantern = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log carries query strings (the widget's websocket ?token=): the filter masks them.
    return handler


class MaskedAccessLogger(AccessLogger):
    """aiohttp's access logger with ``/ack/<token>`` masked (``web.AppRunner(app, access_log_class=...)``)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        masked = mask_path(request.rel_url.raw_path_qs)
        if masked != request.rel_url.raw_path_qs:
            request = request.clone(rel_url=masked)
        super().log(request, response, time)
