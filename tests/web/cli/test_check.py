"""`lantern serve` refuses unknown keys; `lantern check` and `lantern alert test` in real processes (#12).

The robots are fake DingTalk / WeCom robots served on 127.0.0.1; SMTP is aiosmtpd on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller

from monitor.channels.registry import KINDS
from tests.support_servers import Inbox, free_port
from web.cli import config_check
from web.cli.config_template import render_toml

TOKEN = "tok-5ecret-dingtalk-0123456789"
SECRET = "SEC-very-secret-signing-key"


async def lantern(*argv: str, cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERN_")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "web", *argv, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Robot:
    """A fake group robot: answers with ``reply`` and keeps what it received."""

    def __init__(self) -> None:
        self.reply: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            self.received.append((dict(request.query), await request.json()))
        return web.json_response(self.reply)


@pytest.fixture
async def robot() -> AsyncIterator[tuple[Robot, TestServer]]:
    bot = Robot()
    app = web.Application()
    app.router.add_route("*", "/robot/send", bot.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield bot, server
    await server.close()


def write(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "lantern.toml"
    config.write_text(f'{body}\n[storage]\npath = "{tmp_path / "l.db"}"\n', encoding="utf-8")
    return config


CHANNEL = '[[channels]]\nname = "ding"\nkind = "dingtalk"\nurl = "http://127.0.0.1:1/robot/send?access_token=x"\n'
BOGUS = [
    ("top-level", "bogus_key = 1\n[server]\nport = 1\n", "bogus_key", "valid tables): [server]"),
    ("section", "[server]\nbogus_key = 1\n", "[server] 未知键 bogus_key", "valid keys): host, port"),
    ("table", "[bogus]\nx = 1\n", "[bogus]", "[[channels]]"),
    ("channels", CHANNEL + "bogus_key = 1\n", "[[channels]] 'ding' (dingtalk): 未知键 bogus_key",
     "valid keys): name, kind, timeout_s, rate_per_minute, rate_per_second, url, token, secret"),
    ("routes", '[[routes]]\nroles = ["manager"]\nbogus_key = 1\n', "[[routes]] #1: 未知键 bogus_key",
     "valid keys): name, tiers, categories"),
    ("sources", '[[sources]]\nname = "s"\nkind = "rss"\nurl = "http://127.0.0.1:1/x"\nbogus_key = 1\n',
     "[[sources]]: s: 未知键 bogus_key", "valid keys): name, kind, url"),
    ("shifts", '[[shifts]]\nname = "早班"\nstart = "08:00"\nend = "16:00"\nbogus_key = 1\n',
     "[[shifts]] '早班': 未知键 bogus_key", "valid keys): name, start, end, weekdays"),
    ("plans", '[[plans]]\nname = "p"\nbogus_key = 1\n', "[[plans]] #1: 未知键 bogus_key", "valid keys): name"),
    ("plans.scripts", '[[plans]]\nname = "p"\n[[plans.scripts]]\ntitle = "t"\nbody = "b"\nbogus_key = 1\n',
     "[[plans.scripts]] #1: 未知键 bogus_key", "valid keys): title, body, priority"),
    ("tier", "[tier]\nbogus_key = 1\n", "[tier]: 未知键 bogus_key", "valid keys): negativity_points"),
]


@pytest.mark.parametrize(("where", "body", "names", "valid"), BOGUS, ids=[b[0] for b in BOGUS])
async def test_serve_refuses_an_unknown_key_in_any_table(tmp_path: Path, where: str, body: str, names: str,
                                                         valid: str) -> None:
    config = write(tmp_path, body)
    code, out, err = await lantern("serve", "--config", str(config), "--port", str(free_port()), cwd=tmp_path)
    assert code == 2, (out, err)
    assert "Traceback" not in err and "listening" not in out
    (line,) = err.strip().splitlines()
    assert line.startswith("lantern: error: ") and names in line and valid in line, line


async def test_check_explains_routes_that_leave_tiers_unrouted(tmp_path: Path, robot: Any) -> None:
    bot, server = robot
    url = server.make_url("/robot/send")
    channel = f'[[channels]]\nname = "ding"\nkind = "dingtalk"\nurl = "{url}?access_token={TOKEN}"\n'
    route = '[[routes]]\nname = "P1 群"\ntiers = ["P1"]\nchannels = ["ding"]\nmust_act = true\n'
    config = write(tmp_path, channel + route)
    code, out, _ = await lantern("check", "--config", str(config), cwd=tmp_path)
    assert code == 0, out
    assert "· 默认路由补上了 P1、P2、P3、P4" in out  # the defaults keep P2-P4 and the escalation covered
    assert "✓ 渠道 ding (dingtalk): 地址有效，127.0.0.1 允许访问" in out
    assert TOKEN not in out

    config = write(tmp_path, "[incidents]\ndefault_routes = false\n" + channel + route)
    code, out, _ = await lantern("check", "--config", str(config), cwd=tmp_path)
    assert code == 0, out  # warnings alone pass ...
    assert "! P2、P3、P4 级别的事件不会通知任何人" in out and "! P1 级别无人确认时不会升级" in out
    assert "! 渠道 ding (dingtalk): 地址不是 https，消息未加密" in out  # the fake robot is plain http
    assert re.search(r"0 error\(s\), 3 warning\(s\)", out)
    code, out, _ = await lantern("check", "--strict", "--config", str(config), cwd=tmp_path)
    assert code == 1 and "未通过 (failed)" in out  # ... unless --strict
    assert bot.received == []  # checking sends nothing


async def test_serve_logs_the_gap_at_start(tmp_path: Path) -> None:
    config = write(tmp_path, '[server]\nport = 1\nhost = "256.0.0.1"\n[incidents]\ndefault_routes = false\n'
                             '[[routes]]\ntiers = ["P1", "P2", "P3", "P4"]\nroles = ["manager"]\n')
    code, _, err = await lantern("serve", "--config", str(config), cwd=tmp_path)
    assert code == 2 and "Traceback" not in err  # the address cannot be bound; the routes were wired before
    assert "lantern: error: 无法监听 256.0.0.1:1" in err
    assert "alert routes:" not in err  # every tier routed; informed routes need no escalation
    config = write(tmp_path, '[server]\nport = 1\nhost = "256.0.0.1"\n[incidents]\ndefault_routes = false\n'
                             '[[routes]]\ntiers = ["P1"]\nroles = ["manager"]\nmust_act = true\n')
    code, _, err = await lantern("serve", "--config", str(config), cwd=tmp_path)
    assert "WARNING" in err and "alert routes: P2、P3、P4 级别的事件不会通知任何人" in err
    assert "alert routes: P1 级别无人确认时不会升级" in err


async def test_old_redis_setting_names_are_warned_about_by_check_and_at_start(tmp_path: Path) -> None:
    config = write(tmp_path, '[broadcast]\nredis_url = "redis://127.0.0.1:6379/0"\n')
    code, out, _ = await lantern("check", "--config", str(config), cwd=tmp_path)
    assert code == 0, out  # a warning: the old name is still read
    assert f"! {config}: broadcast.redis_url 已改名为 redis.url" in out and "please use the new one" in out
    assert re.search(r"0 error\(s\), 1 warning\(s\)", out)
    code, out, _ = await lantern("check", "--strict", "--config", str(config), cwd=tmp_path)
    assert code == 1, out
    config = write(tmp_path, '[server]\nport = 1\nhost = "256.0.0.1"\n[broadcast]\nredis_prefix = "lantern:old"\n')
    code, _, err = await lantern("serve", "--config", str(config), cwd=tmp_path)
    assert code == 2 and "WARNING" in err and "broadcast.redis_prefix is now redis.prefix" in err


async def test_check_refuses_channels_the_network_guard_blocks_and_bad_urls(tmp_path: Path) -> None:
    config = write(tmp_path, "[network]\nblock_private = true\n" + CHANNEL +
                   '[[channels]]\nname = "hook"\nkind = "webhook"\nurl = "https://"\n')
    code, out, _ = await lantern("check", "--config", str(config), cwd=tmp_path)
    assert code == 1, out
    assert re.search(r"✗ 渠道 ding \(dingtalk\): 出站地址被拒绝.*network\.", out), out
    assert "✗ 渠道 hook (webhook): 地址不是 http(s) 网址" in out


async def test_check_connect_reaches_each_channel(tmp_path: Path, robot: Any) -> None:
    _, server = robot
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        config = write(tmp_path, f'[[channels]]\nname = "ding"\nkind = "dingtalk"\n'
                                 f'url = "{server.make_url("/robot/send")}"\ntoken = "{TOKEN}"\n'
                                 f'[[channels]]\nname = "mail"\nkind = "email"\nhost = "127.0.0.1"\n'
                                 f'port = {smtp.port}\nsecurity = "none"\nsender = "lantern@example.com"\n'
                                 f'[[channels]]\nname = "gone"\nkind = "webhook"\nurl = "http://127.0.0.1:{free_port()}/"\n')
        code, out, _ = await lantern("check", "--connect", "--config", str(config), cwd=tmp_path)
    finally:
        smtp.stop()
    assert code == 1, out
    assert "✓ 渠道 ding (dingtalk): 可以连接，服务器回复 HTTP 200" in out
    assert f"✓ 渠道 mail (email): SMTP 127.0.0.1:{smtp.port} 可以连接并登录" in out
    assert "✗ 渠道 gone (webhook): 无法连接 (cannot connect" in out
    assert inbox.messages == [] and TOKEN not in out


async def test_alert_test_reports_the_robots_answer(tmp_path: Path, robot: Any) -> None:
    bot, server = robot
    config = write(tmp_path, f'[[channels]]\nname = "ding"\nkind = "dingtalk"\n'
                             f'url = "{server.make_url("/robot/send")}?access_token={TOKEN}"\nsecret = "{SECRET}"\n')
    code, out, err = await lantern("alert", "test", "ding", "--config", str(config), cwd=tmp_path)
    assert code == 0, (out, err)
    answer = 'HTTP 200 {"errcode": 0, "errmsg": "ok"}'
    assert out.strip() == f"✓ 已发送到 ding (dingtalk) (sent): 服务回复 (answer): {answer}"
    ((query, body),) = bot.received
    assert query["access_token"] == TOKEN and query["sign"] and query["timestamp"]  # the real signing code ran
    assert "测试消息" in body["markdown"]["title"] and "ding" in body["markdown"]["text"]

    bot.reply = {"errcode": 310000, "errmsg": "sign not match"}  # HTTP 200 with an error code is a failure
    code, out, err = await lantern("alert", "test", "ding", "--config", str(config), cwd=tmp_path)
    assert code == 1, (out, err)
    assert "✗ 发送失败 (not delivered): ding: 错误码 310000 sign not match" in out
    assert TOKEN not in out + err and SECRET not in out + err

    code, out, err = await lantern("alert", "test", "nope", "--config", str(config), cwd=tmp_path)
    assert code == 2 and "没有名为 'nope' 的渠道 (no such channel); [[channels]]: ding" in err


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


async def test_alert_test_sends_a_mail(tmp_path: Path, smtp_inbox: tuple[Controller, Inbox]) -> None:
    controller, inbox = smtp_inbox
    config = write(tmp_path, f'[[channels]]\nname = "mail"\nkind = "email"\nhost = "127.0.0.1"\n'
                             f'port = {controller.port}\nsecurity = "none"\nsender = "lantern@example.com"\n')
    code, out, _ = await lantern("alert", "test", "mail", "--config", str(config), cwd=tmp_path)
    assert code == 1 and "没有收件人" in out  # no `to` and no --to: nobody to send to
    code, out, _ = await lantern("alert", "test", "mail", "--to", "duty@example.com", "--config", str(config),
                                 cwd=tmp_path)
    assert code == 0 and "✓ 已发送到 mail (email)" in out, out
    ((rcpt, mail),) = inbox.messages
    assert rcpt == ["duty@example.com"] and "测试消息" in mail["Subject"]


def test_init_file_documents_every_key_of_every_channel_kind() -> None:
    text = render_toml()
    assert "docstring" not in text
    for kind, cls in KINDS.items():
        assert f'kind = "{kind}"' in text
        for key, help_text in cls.options.items():
            assert re.search(rf"^##   {key} +{re.escape(help_text[:40])}", text, re.MULTILINE), (kind, key)


async def test_the_uncommented_init_file_is_a_valid_configuration(tmp_path: Path) -> None:
    lines = [line[2:] if line.startswith("# ") else line for line in render_toml().splitlines()]
    config = write(tmp_path, "")
    config.write_text("\n".join(lines).replace('path = "./var/lantern.db"', f'path = "{tmp_path / "l.db"}"'),
                      encoding="utf-8")
    findings = await config_check.check(str(config), env={})
    errors = [f.text for f in findings if f.level == "error"]
    assert errors == [] and findings[0].level == "ok", findings
