"""The ``lantern`` command line, run in-process as a user would type it."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path

import pytest

from web.cli import main


def run_cli(*argv: str, stdin: str = "") -> int:
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(list(argv))
    finally:
        sys.stdin = old


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("LANTERN_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli("--help")
    out = capsys.readouterr().out
    for command in ("serve", "demo", "init", "user", "token", "classify", "poll"):
        assert command in out


def test_init_writes_config_and_database(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("init", "site") == 0
    config = workdir / "site" / "lantern.toml"
    assert "[server]" in config.read_text(encoding="utf-8")
    db = sqlite3.connect(workdir / "site" / "var" / "lantern.db")
    tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {"users", "mentions", "_sqlite_migrations"} <= tables
    # A second init refuses to overwrite the file.
    assert run_cli("init", "site") == 2
    assert "already exists" in capsys.readouterr().err


def test_user_add_then_token_create(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("user", "add", "wang", "--role", "manager", "--team", "pr", "--password-stdin",
                   stdin="correct horse battery\n") == 0
    assert "added wang (role manager, team pr)" in capsys.readouterr().out
    assert run_cli("token", "create", "wang") == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("lt_") and len(token) > 30
    db = sqlite3.connect(workdir / "var" / "lantern.db")
    stored = [r[0] for r in db.execute("select token_hash from api_tokens")]
    assert stored and token not in stored, "only the token's hash may be stored"
    hashes = [r[0] for r in db.execute("select password_hash from users")]
    assert hashes[0].startswith("$argon2id$")


def test_user_add_generates_a_password_without_a_terminal(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("user", "add", "zhang", "--role", "agent") == 0
    out = capsys.readouterr().out
    assert "password: " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("user", "add", "x y", "--role", "agent", "--password-stdin"), "without spaces"),
        (("token", "create", "nobody"), "no active user"),
        (("poll",), "needs --once"),
        (("serve", "--config", "missing.toml"), "config file not found"),
    ],
)
def test_errors_are_one_clear_line(workdir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                   message: str) -> None:
    assert run_cli(*argv, stdin="a-long-password\n") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_duplicate_user_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("user", "add", "li", "--role", "manager", "--password-stdin", stdin="password-one\n") == 0
    assert run_cli("user", "add", "li", "--role", "agent", "--password-stdin", stdin="password-two\n") == 2
    assert "already exists" in capsys.readouterr().err
