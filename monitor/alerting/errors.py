"""Errors of ``monitor.alerting``.

Hierarchy::

    MonitorError (monitor/errors.py)
    └── AlertingError                 base of everything raised here                          400 invalid
        ├── AlertConfigError          a [[routes]] / [[plans]] table or a setting is invalid
        ├── SilenceError              a silence is invalid (times, matchers)
        │   └── UnknownSilenceError   no silence with that id                                 404 not_found
        ├── ContactError              a person's contact details are invalid (.field, .message_zh, .message_en)
        ├── CalendarError             the holiday calendar has no data for a date's year      503
        └── AckLinkError              an acknowledge link is forged, expired or already used
                                      .reason: "invalid" (404) | "expired" | "used" (410)

Channel failures are :class:`monitor.channels.errors.DeliveryError`; incident
lifecycle errors live in :mod:`monitor.incidents.errors`.
"""

from __future__ import annotations

from monitor.errors import MonitorError


class AlertingError(MonitorError):
    """Base class of the alerting errors."""

    code = "invalid"


class AlertConfigError(AlertingError):
    """Routing, plan or alert setting is invalid."""


class SilenceError(AlertingError):
    """A silence is invalid."""


class UnknownSilenceError(SilenceError):
    """No silence with that id (or it was deleted)."""

    code = "not_found"
    status = 404


class ContactError(AlertingError):
    """A contact detail (e-mail, mobile, IM id, preferred order) is invalid; nothing was saved."""

    def __init__(self, field: str, message_zh: str, message_en: str) -> None:
        super().__init__(f"{field}: {message_zh} ({message_en})", message_zh=message_zh, message_en=message_en,
                         field=field)
        self.field = field


class CalendarError(AlertingError):
    """The holiday calendar does not know a year (the package's data ends); never guessed."""

    code = "calendar_unavailable"
    status = 503


class AckLinkError(AlertingError):
    """An acknowledge link cannot be used."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = f"link_{reason}"
        self.status = 404 if reason == "invalid" else 410  # gone: it was good once
