"""``lantern check``: what a configuration will do, found before it is started (issue 12).

The file is wired exactly as ``lantern serve`` wires it (every key and table is
validated by the same code), on a throw-away database so checking changes
nothing.  On top of that:

* routes: do P1-P4 all reach someone, does every must-act tier escalate (with
  ``incidents.default_routes`` the defaults fill gaps, and the report says so);
  routes saved in the console (which replace the file's) are used when the
  configured database exists, and routes that select nobody who exists are named;
* settings: an old name still read (``broadcast.redis_url`` is ``redis.url`` now) is a warning;
* channels: each robot or webhook URL is well formed and allowed by the outbound
  address guard (``network.*``); with ``connect`` each is also reached (an HTTP
  request to it, any answer counts; SMTP: connect, TLS and login).

Each finding is a :class:`Finding` of level ``ok``/``info``/``warn``/``error``
with a zh-CN text and its English in parentheses.  Secrets never appear in them.
"""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import sqlite_utils

from monitor.alerting import saved_config
from monitor.alerting.errors import AlertConfigError
from monitor.alerting.routing import Route, coverage_gaps, describe_gaps, parse_routes
from monitor.channels.base import Channel
from monitor.channels.email import Email
from monitor.netguard import BlockedAddressError, GuardedResolver, NetPolicy, guarded_session
from web.auth import users
from web.compose import build_services
from web.errors import ConfigError
from web.platform.settings import Settings, load_settings

RESOLVE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    level: str  # ok | info | warn | error
    text: str

    @property
    def mark(self) -> str:
        return {"ok": "✓", "info": "·", "warn": "!", "error": "✗"}[self.level]


async def check(path: str | None, *, connect: bool = False, env: dict[str, str] | None = None) -> list[Finding]:
    """Every finding about the configuration at ``path`` (None: as ``lantern serve`` would find it)."""
    try:
        settings = load_settings(path, env)
    except ConfigError as exc:
        return [Finding("error", str(exc))]
    where = str(settings.path) if settings.path else "内置默认值 (built-in defaults, no lantern.toml)"
    with tempfile.TemporaryDirectory(prefix="lantern-check-") as tmp:
        trial = settings.with_overrides(storage__path=str(Path(tmp) / "check.db"))
        try:
            services = await build_services(trial)
        except ConfigError as exc:
            return [Finding("error", str(exc))]
        alerts = services.alerts
        assert alerts is not None  # every part is built
        try:
            findings = [Finding("ok", f"配置的键与取值均有效 (every key and value is valid): {where}"),
                        *(Finding("warn", text) for text in settings.warnings)]
            routes = alerts.routes
            escalating = alerts.config.escalate_minutes
            channels: dict[str, Channel] = alerts.channels
        finally:
            await alerts.stop()
            services.db.close()
    saved = _saved(settings)
    if saved.get("routes") is not None:
        findings.append(Finding("info", f"控制台保存的路由取代了文件中的 [[routes]]（{saved['routes_by']}） "
                                        f"(routes saved in the console replace the file's [[routes]])"))
        try:
            routes = parse_routes(saved["routes"], list(channels),
                                  fill_defaults=settings["incidents.default_routes"])
        except AlertConfigError as exc:
            findings.append(Finding("error", f"控制台保存的路由无效 (saved routes invalid): {exc}"))
    findings += _route_findings(routes, escalating, saved.get("people"))
    for channel in channels.values():
        if channel.kind != "console":
            findings += await _channel_findings(channel, connect=connect)
    return findings


def _route_findings(routes: list[Route], escalating: Any, people: list[dict[str, Any]] | None) -> list[Finding]:
    gaps = coverage_gaps(routes, escalating)
    findings = [Finding(level, text) for level, text in describe_gaps(routes, escalating)]
    if not gaps.unrouted and not gaps.unescalated:
        findings.insert(0, Finding("ok", "P1–P4 都有路由，需确认的级别都会升级 "
                                         "(P1-P4 are all routed and every must-act tier escalates)"))
    if people is None:
        findings.append(Finding("info", "数据库尚不存在，未检查路由能选中哪些人 "
                                        "(no database yet: who the routes select was not checked)"))
        return findings
    if not people:
        findings.append(Finding("warn", "还没有任何有效账号，告警只能发到渠道 (no active accounts yet: alerts reach "
                                        "channels only; add people with `lantern user add`)"))
        return findings
    for route in routes:
        if route.channels or route.plan:
            continue
        chosen = [p for p in people if p["name"] in route.users or p["role"] in route.roles
                  or (p.get("team") and p["team"] in route.teams)]
        if not chosen:
            wanted = "、".join([*route.users, *route.roles, *route.teams])
            findings.append(Finding("warn", f"路由「{route.name}」目前选不到任何有效账号（{wanted}），它的告警无人接收 "
                                            f"(route selects no active account: its alerts reach nobody)"))
    return findings


def _saved(settings: Settings) -> dict[str, Any]:
    """Routes saved in the console and the active accounts, read-only from the configured database."""
    db_path = Path(settings["storage.path"])
    if not db_path.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        db = sqlite_utils.Database(conn)
        out: dict[str, Any] = {"people": [{"name": u.name, "role": u.role, "team": u.team}
                                          for u in users.active_users(db)]}
        try:
            saved = saved_config.load_with_author(db, "routes")
        except sqlite3.Error:  # alerting's tables not created yet
            saved = None
        if saved is not None:
            out["routes"], out["routes_by"] = saved
        return out
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


async def _channel_findings(channel: Channel, *, connect: bool) -> list[Finding]:
    label = f"渠道 {channel.name} ({channel.kind})"
    if isinstance(channel, Email):
        host, port = str(channel.config["host"]), channel.port
        if not connect:
            return [Finding("ok", f"{label}: SMTP {host}:{port} ({channel.security}) 已配置 (configured; "
                                  "--connect tries to sign in)")]
        try:
            await asyncio.to_thread(_smtp_probe, channel)
        except (smtplib.SMTPException, OSError) as exc:
            return [Finding("error", f"{label}: 无法连接或登录 SMTP {host}:{port} "
                                     f"(cannot connect or sign in: {_reason(exc)})")]
        return [Finding("ok", f"{label}: SMTP {host}:{port} 可以连接并登录 (reachable, signed in)")]
    url = channel.endpoint()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Finding("error", f"{label}: 地址不是 http(s) 网址 (url is not an http(s) address)")]
    host = parts.hostname
    findings = []
    if parts.scheme == "http" and channel.kind != "webhook":
        findings.append(Finding("warn", f"{label}: 地址不是 https，消息未加密 (not https: messages are not encrypted)"))
    refusal = await _guard(channel.network, host, parts.port or (443 if parts.scheme == "https" else 80))
    if refusal is not None:
        level = "error" if refusal[0] == "blocked" or connect else "warn"
        return [*findings, Finding(level, f"{label}: {refusal[1]}")]
    if not connect:
        return [*findings, Finding("ok", f"{label}: 地址有效，{host} 允许访问 (address well formed, {host} allowed "
                                         "by the network guard)")]
    reached = await _reach(channel, url)
    return [*findings, reached]


async def _guard(policy: NetPolicy, host: str, port: int) -> tuple[str, str] | None:
    """Why ``host`` cannot be posted to: ("blocked", text) by the guard, ("unresolved", text); None if allowed."""
    resolver = GuardedResolver(policy)
    try:
        await asyncio.wait_for(resolver.resolve(host, port), RESOLVE_TIMEOUT_S)
    except BlockedAddressError as exc:
        return "blocked", f"{exc}；见 network.block_private / network.allow (see network.* settings)"
    except (OSError, TimeoutError) as exc:
        return "unresolved", f"无法解析主机名 {host} (cannot resolve host: {_reason(exc)})"
    finally:
        await resolver.close()
    return None


async def _reach(channel: Channel, url: str) -> Finding:
    label = f"渠道 {channel.name} ({channel.kind})"
    timeout = aiohttp.ClientTimeout(total=channel.timeout)
    try:
        async with guarded_session(channel.network) as session, \
                session.get(url, allow_redirects=False, timeout=timeout) as resp:
            status = resp.status
    except BlockedAddressError as exc:
        return Finding("error", f"{label}: {exc}")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Finding("error", f"{label}: 无法连接 (cannot connect: {_reason(exc)})")
    return Finding("ok", f"{label}: 可以连接，服务器回复 HTTP {status} (reachable; `lantern alert test "
                         f"{channel.name}` sends a real test message)")


def _smtp_probe(channel: Email) -> None:
    with channel.connect_sync() as smtp:
        smtp.noop()


def _reason(exc: BaseException) -> str:
    """A short reason without the URL (which may hold a token)."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "authentication failed"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__
