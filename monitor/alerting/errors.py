"""Errors of ``monitor.alerting``.

Hierarchy::

    MonitorError (monitor/errors.py)
    └── AlertingError                 base of everything raised here
        ├── AlertConfigError          a [[routes]] / [[plans]] table or a setting is invalid
        ├── SilenceError              a silence is invalid (times, matchers) or unknown
        └── AckLinkError              an acknowledge link is forged, expired or already used
                                      .reason: "invalid" | "expired" | "used"

Channel failures are :class:`monitor.channels.errors.DeliveryError`; incident
lifecycle errors live in :mod:`monitor.incidents.errors`.
"""

from __future__ import annotations

from monitor.errors import MonitorError


class AlertingError(MonitorError):
    """Base class of the alerting errors."""


class AlertConfigError(AlertingError):
    """Routing, plan or alert setting is invalid."""


class SilenceError(AlertingError):
    """A silence is invalid or unknown."""


class AckLinkError(AlertingError):
    """An acknowledge link cannot be used."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
