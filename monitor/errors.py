"""Errors of the ``monitor`` package (sources, pollers, mentions).

Hierarchy::

    MonitorError                      base of everything raised here                        400
    ├── SourceConfigError             a source's configuration is invalid (name, kind, url, query, ...)
    │   ├── QueryError                the brand query cannot be parsed (position and reason given)
    │   ├── SourceExistsError         a source of that name already exists                  409
    │   ├── SourcePausedError         a push to a paused source                             409
    │   └── BatchTooLargeError        a push of more items than one batch may hold          413
    ├── UnknownSourceError            no source of that name                                404
    ├── ItemError                     one item (pushed or polled) is not a valid mention: only it is refused
    │   └── IngestError               a pushed item is malformed (wrong type, unreadable field)
    └── SourceError                   expected failure of one poll; the source's health records it
        ├── FetchError                the network or the server failed (response_status, timeout, too large)
        │   └── RateLimitedError      429 / 503 with Retry-After: the next poll waits for it
        └── ParseError                the payload is malformed (XML, JSON, HTML) or has the wrong shape
            └── ParseLimitError       the payload is over a parse limit (nesting depth, parse time)

The incidents/alerting side has its own ``monitor/alerting/errors.py``.
Messages are human readable (zh-CN first, English in parentheses where it
helps) and never contain secrets: headers, cookies and tokens are not echoed.

Every class carries ``code`` and ``status`` for the HTTP API (the shape
``web.errors.HttpError`` names); ``message_zh`` and ``message_en`` are the
message in each language (both the one bilingual message unless given apart),
``details`` extra JSON fields.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error of the monitor package."""

    code = "monitor_error"
    status = 400

    def __init__(self, message: str = "", *, message_zh: str = "", message_en: str = "",
                 **details: object) -> None:
        super().__init__(message or f"{message_zh} ({message_en})")
        self.message_zh, self.message_en = message_zh or str(self), message_en or str(self)
        self.details: dict[str, object] = dict(details)


class SourceConfigError(MonitorError):
    """A source's configuration is invalid."""

    code = "invalid_source"


class QueryError(SourceConfigError):
    """The brand query cannot be parsed."""


class SourceExistsError(SourceConfigError):
    """A source of that name already exists."""

    code = "exists"
    status = 409


class SourcePausedError(SourceConfigError):
    """A batch was pushed to a paused source."""

    code = "source_paused"
    status = 409


class BatchTooLargeError(SourceConfigError):
    """More items pushed at once than one batch may hold."""

    code = "batch_too_large"
    status = 413


class UnknownSourceError(MonitorError):
    """No source of that name."""

    code = "not_found"
    status = 404


class ItemError(MonitorError):
    """One item is not a valid mention; it is refused and reported, the others of its page are kept."""

    code = "invalid_item"


class IngestError(ItemError):
    """A pushed item is malformed."""


class SourceError(MonitorError):
    """An expected failure of one poll (Home Assistant's ``UpdateFailed``)."""

    code = "source_failed"
    status = 502


class FetchError(SourceError):
    """The network or the server failed."""

    code = "fetch_failed"

    def __init__(self, message: str, *, response_status: int | None = None) -> None:
        super().__init__(message)
        self.response_status = response_status  # the server's HTTP status, if it answered


class RateLimitedError(FetchError):
    """The server asked us to wait (429, or 503 with Retry-After)."""

    code = "source_rate_limited"

    def __init__(self, message: str, *, retry_after: float, response_status: int = 429) -> None:
        super().__init__(message, response_status=response_status)
        self.retry_after = retry_after


class ParseError(SourceError):
    """The payload is malformed or does not have the configured shape."""

    code = "parse_failed"


class ParseLimitError(ParseError):
    """The payload is over a parse limit (nesting depth, parse time): refused before it can stall anything."""
