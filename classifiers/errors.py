"""Errors raised by :mod:`classifiers`.

::

    ClassifierError                 base class; catch this to handle any of them        500
     ├── ModelNotFoundError         no artifact at the given path                        503
     ├── ModelVersionError          artifact written for another format / Lantern version 503
     └── InvalidCorrectionError     a manager correction that cannot apply (bad field/value) 400

Every class carries ``code`` and ``status`` for the HTTP API (the shape
``web.errors.HttpError`` names; this package imports nothing of Lantern's),
``message_zh`` / ``message_en`` (the one message for both unless given apart)
and ``details``.
"""

from __future__ import annotations


class ClassifierError(Exception):
    """Base class of every classifier error."""

    code = "classifier_error"
    status = 500

    def __init__(self, message: str = "", *, message_zh: str = "", message_en: str = "",
                 **details: object) -> None:
        super().__init__(message or f"{message_en} ({message_zh})")
        self.message_zh, self.message_en = message_zh or str(self), message_en or str(self)
        self.details: dict[str, object] = dict(details)


class ModelNotFoundError(ClassifierError):
    code = "model_not_found"
    status = 503


class ModelVersionError(ClassifierError):
    code = "model_version"
    status = 503


class InvalidCorrectionError(ClassifierError, ValueError):
    code = "invalid"
    status = 400
