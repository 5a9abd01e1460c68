"""Helpers shared by the sub-commands: settings from ``--config`` and the services."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlite_utils

from web.compose import Services, build_services, open_database
from web.platform.settings import Settings, load_settings

T = TypeVar("T")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="lantern.toml to use (default: ./lantern.toml if present, else built-in defaults)")


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def with_services(settings: Settings, fn: Callable[[Services], Awaitable[T]]) -> T:
    """Build the services (no background tasks), run ``fn``, close the database."""

    async def run() -> T:
        services = await build_services(settings)
        try:
            return await fn(services)
        finally:
            services.db.close()

    return asyncio.run(run())


def write_database(settings: Settings, fn: Callable[[sqlite_utils.Database], T]) -> T:
    """Run ``fn`` in one write transaction on the migrated database, without wiring the packages.

    For commands that only touch users and tokens: they need neither the
    classifier nor the pollers, so they start in a fraction of the time.
    """
    db = open_database(settings)
    try:
        return db.write_sync(fn)
    finally:
        db.close()
