"""Errors of the web layer.

LanternWebError
├── ConfigError        a setting or the config file is invalid
├── AuthError          login, token or session problems (message safe to show)
└── NotFound           a requested object does not exist
"""


class LanternWebError(Exception):
    """Base class of every error raised by ``web``."""


class ConfigError(LanternWebError):
    """The configuration is invalid; the message says which setting and why."""


class AuthError(LanternWebError):
    """Authentication or authorisation failed."""


class NotFound(LanternWebError):
    """The requested object does not exist."""
