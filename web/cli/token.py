"""``lantern token create NAME``: print a new API token for a user."""

from __future__ import annotations

import argparse
import time

import sqlite_utils

from web.auth import users
from web.cli._common import add_config_argument, settings_from, write_database
from web.errors import AuthError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("token", help="manage API tokens")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="create an API token for a user and print it")
    create.add_argument("name", help="user name")
    create.add_argument("--label", default="cli", help="what the token is for")
    add_config_argument(create)
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    now = time.time()

    def txn(db: sqlite_utils.Database) -> str:
        user = users.find_user(db, args.name)
        if user is None:
            raise AuthError(f"no active user named {args.name!r}")
        return users.create_token(db, user, args.label, now=now)

    print(write_database(settings, txn))
    return 0
