"""``lantern poll --once``: poll every configured source once and report."""

from __future__ import annotations

import argparse
from typing import Any

from web.cli._common import add_config_argument, settings_from, with_services
from web.compose import Services
from web.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("poll", help="poll the configured sources")
    parser.add_argument("--once", action="store_true", help="poll every source once, print a line each, exit")
    parser.add_argument("--source", help="only this source")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.once:
        raise ConfigError("lantern poll needs --once (continuous polling runs inside lantern serve)")
    settings = settings_from(args)

    async def poll(services: Services) -> list[Any]:
        if services.monitor is None:
            raise ConfigError("the monitor is not available")
        return await services.monitor.poll_once(args.source)

    results = with_services(settings, poll)
    if not results:
        print("no sources configured (add [[sources]] to lantern.toml)")
    failed = 0
    for result in results:
        print(str(result))
        failed += 0 if result.ok else 1
    return 1 if failed else 0
