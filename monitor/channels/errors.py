"""Errors of ``monitor.channels``.

Hierarchy::

    MonitorError (monitor/errors.py)
    └── ChannelError                  base of everything raised here                          400
        ├── ChannelConfigError        a [[channels]] table is invalid (names the channel and the key)
        └── DeliveryError             one message could not be delivered                      502
                                      .retryable: worth trying again (network, 5xx, rate limit)
                                      .retry_after: seconds the service asked us to wait, if any

Messages never contain webhook URLs, tokens, signing secrets or passwords:
they name the channel, the HTTP status and the service's error code only.
"""

from __future__ import annotations

from monitor.errors import MonitorError


class ChannelError(MonitorError):
    """Base class of the channel errors."""


class ChannelConfigError(ChannelError):
    """A ``[[channels]]`` table is invalid."""

    code = "invalid_channel"


class DeliveryError(ChannelError):
    """A message could not be delivered."""

    code = "delivery_failed"
    status = 502

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
