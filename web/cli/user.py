"""``lantern user add NAME --role ROLE [--team T] [--skills A,B] [--site S] [--shift S]``."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
import time

from web.auth import users
from web.auth.shift_settings import check_shift
from web.cli._common import add_config_argument, settings_from, write_database
from web.errors import AuthError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("user", help="manage users")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=users.ROLES)
    add.add_argument("--team", default="", help="team, e.g. pr, service, or an agent team")
    add.add_argument("--display-name", default="")
    add.add_argument("--skills", default="", help="agent skill groups, comma-separated (script targeting)")
    add.add_argument("--site", default="", help="agent site (script targeting)")
    add.add_argument("--shift", default="", help="agent shift (班次), one of the [[shifts]] in the config "
                                                 "(script targeting, on-shift coverage)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of asking")
    add_config_argument(add)
    add.set_defaults(func=run_add)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password and whether it was generated (then it is printed once)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("repeat: "):
            raise AuthError("passwords do not match")
        return first, False
    return secrets.token_urlsafe(12), True


def run_add(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    shift = check_shift(settings, args.shift)  # before asking for a password
    password, generated = _password(args)

    now = time.time()
    user = write_database(settings, lambda db: users.add_user(
        db, args.name, args.role, password, team=args.team, display_name=args.display_name,
        skills=users.parse_names(args.skills), site=args.site.strip(), shift=shift, now=now))
    print(f"added {user.name} (role {user.role}{', team ' + user.team if user.team else ''})")
    if generated:
        print(f"password: {password}")
    return 0
