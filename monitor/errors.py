"""Errors of the ``monitor`` package (sources, pollers, mentions).

Hierarchy::

    MonitorError                      base of everything raised here
    ├── SourceConfigError             a source's configuration is invalid (name, kind, url, query, ...)
    │   ├── QueryError                the brand query cannot be parsed (position and reason given)
    │   └── SourceExistsError         a source of that name already exists
    ├── UnknownSourceError            no source of that name
    ├── ItemError                     one item (pushed or polled) is not a valid mention: only it is refused
    │   └── IngestError               a pushed item is malformed (wrong type, unreadable field)
    └── SourceError                   expected failure of one poll; the source's health records it
        ├── FetchError                the network or the server failed (status, timeout, too large)
        │   └── RateLimitedError      429 / 503 with Retry-After: the next poll waits for it
        └── ParseError                the payload is malformed (XML, JSON, HTML) or has the wrong shape
            └── ParseLimitError       the payload is over a parse limit (nesting depth, parse time)

The incidents/alerting side has its own ``monitor/alerting/errors.py``.
Messages are human readable (zh-CN first, English in parentheses where it
helps) and never contain secrets: headers, cookies and tokens are not echoed.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error of the monitor package."""


class SourceConfigError(MonitorError):
    """A source's configuration is invalid."""


class QueryError(SourceConfigError):
    """The brand query cannot be parsed."""


class SourceExistsError(SourceConfigError):
    """A source of that name already exists."""


class UnknownSourceError(MonitorError):
    """No source of that name."""


class ItemError(MonitorError):
    """One item is not a valid mention; it is refused and reported, the others of its page are kept."""


class IngestError(ItemError):
    """A pushed item is malformed."""


class SourceError(MonitorError):
    """An expected failure of one poll (Home Assistant's ``UpdateFailed``)."""


class FetchError(SourceError):
    """The network or the server failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(FetchError):
    """The server asked us to wait (429, or 503 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: float, status: int = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ParseError(SourceError):
    """The payload is malformed or does not have the configured shape."""


class ParseLimitError(ParseError):
    """The payload is over a parse limit (nesting depth, parse time): refused before it can stall anything."""
