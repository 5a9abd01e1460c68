"""The ``lantern`` command line.

Each sub-command lives in a module of :mod:`web.commands`; the module's
``register(subparsers)`` adds it and sets ``func``.  Adding a command is one
file plus one line in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from web.cli import COMMAND_MODULES
from web.errors import LanternWebError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lantern",
        description="Lantern (走马灯): public-opinion monitoring, tiered alerts and agent scripts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"web.cli.{name}")
        module.register(subparsers)
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
