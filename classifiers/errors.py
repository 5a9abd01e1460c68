"""Errors raised by :mod:`classifiers`.

::

    ClassifierError                 base class; catch this to handle any of them
     ├── ModelNotFoundError         no artifact at the given path
     ├── ModelVersionError          artifact written for another format / Lantern version
     └── InvalidCorrectionError     a manager correction that cannot apply (bad field/value)
"""

from __future__ import annotations


class ClassifierError(Exception):
    """Base class of every classifier error."""


class ModelNotFoundError(ClassifierError):
    pass


class ModelVersionError(ClassifierError):
    pass


class InvalidCorrectionError(ClassifierError, ValueError):
    pass
