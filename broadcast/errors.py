"""Errors of the broadcast package.

BroadcastError
├── InvalidScript          bad input for a script (title, body, priority, audience, expiry)
├── ScriptNotFound         no script / version with that id
├── IllegalTransition      the lifecycle refuses this move from the current state
│   └── StaleVersion       the action names a version that is not the current one
├── ApprovalError          the approver may not approve this version
│   └── SelfApproval       the author tried to approve their own version (four eyes)
└── FanoutError            the shared fan-out (Redis) is unavailable

Every message is safe to show to the user; ``code`` is stable for API clients,
``status`` is the HTTP status, ``message_en`` / ``message_zh`` carry the English
and Chinese text and ``details`` any extra JSON fields (the shape
``web.errors.HttpError`` names; this package does not import ``web``).
"""

from __future__ import annotations


class BroadcastError(Exception):
    """Base class of every error raised by ``broadcast``."""

    code = "broadcast_error"
    status = 400

    def __init__(self, message: str, message_zh: str = "") -> None:
        super().__init__(message)
        self.message = self.message_en = message
        self.message_zh = message_zh or message
        self.details: dict[str, object] = {}


class InvalidScript(BroadcastError):
    code = "invalid_script"
    status = 400


class ScriptNotFound(BroadcastError):
    code = "not_found"
    status = 404


class IllegalTransition(BroadcastError):
    code = "illegal_transition"
    status = 409


class StaleVersion(IllegalTransition):
    code = "stale_version"
    status = 409


class ApprovalError(BroadcastError):
    code = "approval_refused"
    status = 403


class SelfApproval(ApprovalError):
    code = "self_approval"
    status = 403


class FanoutError(BroadcastError):
    code = "fanout_unavailable"
    status = 503
