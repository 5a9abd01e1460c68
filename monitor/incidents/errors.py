"""Errors of ``monitor.incidents``.

Hierarchy::

    MonitorError (monitor/errors.py)
    └── IncidentError                 base of everything raised here                          400 invalid
        ├── UnknownIncidentError      no incident with that id                                404 not_found
        ├── IllegalTransitionError    the lifecycle does not allow that step (e.g. ack a resolved incident)
        │                                                                                     409
        └── InvalidTierError          a tier other than P1..P4 was given
"""

from __future__ import annotations

from monitor.errors import MonitorError


class IncidentError(MonitorError):
    """Base class of the incident errors."""

    code = "invalid"


class UnknownIncidentError(IncidentError):
    """No incident with that id."""

    code = "not_found"
    status = 404


class IllegalTransitionError(IncidentError):
    """The lifecycle does not allow this step from the incident's current state."""

    code = "illegal_transition"
    status = 409


class InvalidTierError(IncidentError):
    """A tier other than P1, P2, P3 or P4."""
