"""``lantern init [DIR]``: a commented lantern.toml and the database."""

from __future__ import annotations

import argparse
from pathlib import Path

from web.cli.config_template import render_toml
from web.compose import open_database
from web.errors import ConfigError
from web.platform.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("init", help="write a commented lantern.toml and create the database")
    parser.add_argument("dir", nargs="?", default=".", help="directory to initialise (default: .)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing lantern.toml")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    target.mkdir(parents=True, exist_ok=True)
    config = target / "lantern.toml"
    if config.exists() and not args.force:
        raise ConfigError(f"{config} already exists (use --force to overwrite)")
    config.write_text(render_toml(), encoding="utf-8")
    settings = load_settings(config, env={})
    db_path = Path(settings["storage.path"])
    if not db_path.is_absolute():
        db_path = target / db_path
    settings = settings.with_overrides(storage__path=str(db_path))
    db = open_database(settings)
    db.close()
    print(f"wrote {config}")
    print(f"created database {db_path}")
    print("next: lantern user add NAME --role admin, then lantern serve")
    return 0
