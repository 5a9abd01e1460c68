"""The ``lantern`` command line, run in-process as a user would type it."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path

import pytest

from web.cli.main import main


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
    for command in ("serve", "demo", "init", "check", "alert", "user", "token", "classify", "poll"):
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


async def test_poll_once_prints_a_line_per_source(tmp_path: Path) -> None:
    """``lantern poll --once`` in a real process against feeds served on 127.0.0.1."""
    import asyncio
    import os

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    feed = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>鲜味楼外卖送错了还不给退款</title><link>https://example.com/a/1</link>"
        "<guid>a1</guid><pubDate>Sun, 15 Mar 2026 20:31:00 +0800</pubDate></item>"
        "</channel></rss>"
    )

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=feed, content_type="application/rss+xml")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="upstream exploded")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        config = tmp_path / "lantern.toml"
        config.write_text(
            f'[storage]\npath = "{tmp_path / "l.db"}"\n'
            f'[[sources]]\nname = "good"\nkind = "rss"\nurl = "{server.make_url("/ok")}"\n'
            f'[[sources]]\nname = "bad"\nkind = "rss"\nurl = "{server.make_url("/broken")}"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERN_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web", "poll", "--once", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        await server.close()
    lines = out.decode().strip().splitlines()
    assert proc.returncode == 1, err.decode()  # one source failed
    good = next(line for line in lines if "good" in line)
    bad = next(line for line in lines if "bad" in line)
    assert good.startswith("✓") and "1 条新提及" in good
    assert "500" in bad
    db = sqlite3.connect(tmp_path / "l.db")
    assert db.execute("select count(*) from mentions").fetchone()[0] == 1
