"""Sub-commands of ``lantern``; one module each (see :mod:`web.cli.main`)."""

COMMAND_MODULES: tuple[str, ...] = (
    "serve",
    "demo",
    "init",
    "check",
    "alert",
    "user",
    "token",
    "poll",
    "classify",
    "train",
)
