"""The ``lantern`` command line.

Each sub-command lives in a module of :mod:`web.cli`; the module's
``register(subparsers)`` adds it and sets ``func``.  Adding a command is one
file plus one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from web.cli import alert, check, classify, demo, init, poll, serve, token, train, user
from web.errors import LanternWebError

Register = Callable[[argparse._SubParsersAction], None]
# In the order ``lantern --help`` lists them.
COMMANDS: tuple[Register, ...] = (serve.register, demo.register, init.register, check.register, alert.register,
                                  user.register, token.register, poll.register, classify.register,
                                  train.register)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lantern",
        description="Lantern (走马灯): public-opinion monitoring, tiered alerts and agent scripts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LanternWebError as exc:
        print(f"lantern: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
