"""Errors of ``monitor.incidents``.

Hierarchy::

    MonitorError (monitor/errors.py)
    └── IncidentError                 base of everything raised here
        ├── UnknownIncidentError      no incident with that id
        ├── IllegalTransitionError    the lifecycle does not allow that step (e.g. ack a resolved incident)
        └── InvalidTierError          a tier other than P1..P4 was given
"""

from __future__ import annotations

from monitor.errors import MonitorError


class IncidentError(MonitorError):
    """Base class of the incident errors."""


class UnknownIncidentError(IncidentError):
    """No incident with that id."""


class IllegalTransitionError(IncidentError):
    """The lifecycle does not allow this step from the incident's current state."""


class InvalidTierError(IncidentError):
    """A tier other than P1, P2, P3 or P4."""
