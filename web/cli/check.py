"""``lantern check [--config FILE] [--connect] [--strict]``: validate a configuration before starting it."""

from __future__ import annotations

import argparse
import asyncio

from web.cli._common import add_config_argument
from web.cli.config_check import check


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="validate a configuration: keys, routes covering P1-P4, escalation, channels",
        description="Validate lantern.toml as `lantern serve` would load it, without starting anything or "
                    "changing the database. Exit status 0 when no error was found, 1 otherwise.")
    add_config_argument(parser)
    parser.add_argument("--connect", action="store_true",
                        help="also connect to every channel (HTTP request to each robot/webhook, SMTP sign-in)")
    parser.add_argument("--strict", action="store_true", help="warnings fail the check too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    findings = asyncio.run(check(args.config, connect=args.connect))
    for finding in findings:
        print(f"{finding.mark} {finding.text}")
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warn" for f in findings)
    failed = errors or (args.strict and warnings)
    verdict = "未通过 (failed)" if failed else "通过 (passed)"
    print(f"检查{verdict}：{errors} 个错误，{warnings} 个警告 ({errors} error(s), {warnings} warning(s))")
    return 1 if failed else 0
