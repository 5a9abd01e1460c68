"""Every Lantern setting, declared once with its name, default and help text.

Settings come from, in increasing priority: these defaults, one TOML file
(``lantern.toml``; ``[section]`` tables, ``key = value``), and environment
variables ``LANTERN_<SECTION>_<KEY>`` (e.g. ``LANTERN_SERVER_PORT=9000``).

Besides scalar settings the TOML file may hold lists of tables that their
owning package validates: ``[[sources]]`` (monitor), ``[[channels]]``,
``[[routes]]`` and ``[[plans]]`` (alerting), ``[[shifts]]`` (broadcast); and free-form tables handed to
their owner: ``[tier]`` (the classifier's severity policy).  Users live in the
database (``lantern user add``), not in the file.

A renamed setting keeps working under its old name (``ALIASES``: file key,
environment variable or override) and leaves a warning in
``Settings.warnings``, logged when the services are built and shown by
``lantern check``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web.auth.client_address import parse_networks
from web.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    default: Any
    help: str
    check: Callable[[Any], object] | None = None  # raises ValueError for a bad (coerced) value

    @property
    def env(self) -> str:
        return _env_name(self.name)

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


SETTINGS: tuple[Setting, ...] = (
    # -- server -----------------------------------------------------------
    Setting("server.host", "127.0.0.1", "Address the HTTP server listens on."),
    Setting("server.port", 8080, "TCP port of the HTTP server (console, ticker, API, websockets)."),
    Setting(
        "server.public_url",
        "",
        "URL users reach Lantern at, used in links inside alerts (acknowledge links). "
        "Empty: http://HOST:PORT.",
    ),
    Setting("server.language", "zh-CN", "Default language of the console and ticker: zh-CN or en."),
    Setting("server.log_format", "text", "Log format: text or json (structured, one object per line)."),
    Setting("server.log_level", "INFO", "Log level: DEBUG, INFO, WARNING or ERROR."),
    # -- storage ----------------------------------------------------------
    Setting("storage.path", "./var/lantern.db", "SQLite database file (WAL mode). Created if missing."),
    # -- redis (several nodes) ---------------------------------------------
    Setting("redis.url", "",
            "Redis the Lantern nodes share, e.g. redis://host:6379/0: the ticker, console events, sign-outs and "
            "revocations, source changes, robot send budgets and push-ingest limits then cross every node. "
            "Empty: one node, in-process only. Was broadcast.redis_url (still read, with a warning)."),
    Setting("redis.prefix", "lantern:ticker",
            "Prefix of every key and channel the nodes share in Redis (nodes that work together need the same url "
            "and prefix; the default is the one earlier versions used). Was broadcast.redis_prefix."),
    # -- auth -------------------------------------------------------------
    Setting(
        "auth.secret_key",
        "",
        "Secret for signing sessions and acknowledge links. Empty: generated once and stored in the "
        "database.",
    ),
    Setting("auth.session_hours", 12, "How long a console or ticker login lasts, in hours."),
    Setting(
        "auth.cookie_secure",
        False,
        "Mark cookies Secure (HTTPS only). Turn on whenever Lantern is served over HTTPS.",
    ),
    Setting("auth.login_attempts_per_minute", 5,
            "Sign-in attempts allowed per user name and address per minute (counted before the password is "
            "checked; a correct one is taken back). One address may try 20 times as many over all names."),
    # -- web --------------------------------------------------------------
    Setting(
        "web.auth_cache_seconds",
        30.0,
        "How long a node remembers who an API token or session belongs to (saves a database lookup per "
        "request and websocket connect). Revocation, logout and user changes made on a node apply there at "
        "once; other nodes see them within this time. 0 turns the cache off.",
        check=lambda seconds: seconds >= 0 or _bad("must be 0 or more"),
    ),
    Setting(
        "web.trusted_proxies",
        [],
        'Reverse proxies (IP addresses or CIDRs, e.g. ["10.0.0.0/8"]) whose X-Forwarded-For is believed '
        "for the client address (login rate limit, access log). Empty: the header is ignored.",
        check=parse_networks,
    ),
    # -- monitor ----------------------------------------------------------
    Setting("monitor.enabled", True, "Run the pollers and the scheduler inside `lantern serve`."),
    Setting("monitor.default_interval_s", 300, "Poll interval of a source that does not set one, in seconds."),
    Setting("monitor.default_timeout_s", 20, "HTTP timeout of a source that does not set one, in seconds."),
    Setting("monitor.max_response_bytes", 5_000_000, "Largest response body accepted from a source."),
    Setting("monitor.per_host_concurrency", 2, "Concurrent requests allowed to one host (a request the server "
            "does not answer within 3 s gives its slot back)."),
    Setting("monitor.parse_workers", 1, "Worker processes that parse fetched feeds and pages, off the event loop.",
            check=lambda n: 1 <= n <= 16 or _bad("must be 1 to 16")),
    Setting("monitor.parse_time_limit_s", 10.0, "A page whose parsing takes longer is refused (its worker is "
            "stopped) with an error on the source's health.", check=lambda n: 0.1 <= n <= 600 or _bad(
                "must be 0.1 to 600 seconds")),
    Setting("monitor.timezone", "Asia/Shanghai",
            "Time zone assumed for source times that carry none; also the local time of quiet hours, the digest "
            "and [[shifts]]."),
    Setting("monitor.brands", [], "Brand and product names added to the tokenizer dictionary."),
    Setting("monitor.failure_alert_after", 3, "Consecutive failed polls of a source before a source-health alert."),
    Setting("monitor.silence_factor", 6.0, "Alert when a source brings nothing new for this many times its usual gap."),
    Setting("monitor.near_duplicate_bits", 10, "SimHash bits (of 64) two texts may differ by to count as a repost."),
    Setting("monitor.ingest_per_minute", 120,
            "Pushes one push source may POST to /api/ingest per minute (bursts up to the same number); beyond "
            "it the answer is 429 with Retry-After. 0: no limit.",
            check=lambda n: n >= 0 or _bad("must be 0 or more")),
    # -- network (outbound address guard) ----------------------------------
    Setting("network.block_private", False,
            "Also refuse fetches and alert posts to loopback, RFC 1918, CGNAT (100.64.0.0/10) and IPv6 ULA "
            "addresses. Cloud metadata, link-local, unspecified, multicast and broadcast are always refused."),
    Setting("network.deny", [], 'Extra CIDRs never fetched from or posted to, e.g. ["10.8.0.0/16"]; wins over allow.',
            check=parse_networks),
    Setting("network.allow", [],
            'CIDRs allowed even with block_private, e.g. ["10.20.0.0/16"] for an intranet RSSHub; never '
            "re-opens the always-refused ranges.", check=parse_networks),
    # -- classifier -------------------------------------------------------
    Setting(
        "classifier.model_path",
        "",
        "Directory of the classifier artifact. Empty: the model shipped with Lantern.",
    ),
    Setting(
        "classifier.adapt_interval_s",
        600,
        "How often the classifier is adapted to managers' corrections, in seconds (0: only at start).",
    ),
    # -- incidents and alerts --------------------------------------------
    Setting("incidents.window_minutes", 360, "Mentions of one story within this window join one incident."),
    Setting("incidents.similarity", 0.3, "Word similarity (0-1) a mention needs to join an open incident: the larger "
            "of the share of its words the story holds and the share of the story's core words it holds."),
    Setting("incidents.volume_tiers", ["P4:1", "P3:10", "P2:30", "P1:300"],
            "Tier reached at N mentions per hour, as TIER:N (an incident only ever climbs)."),
    Setting("incidents.spike_sigma", 3.0, "Spike: last hour above the source's 14-day hourly mean + this many sigma."),
    Setting("incidents.spike_min", 5, "Mentions per hour below which no spike is declared."),
    Setting("incidents.open_negative", 0.75, "Negativity a P4 mention needs to open (or be watched for) an incident."),
    Setting("incidents.watch_min", 3, "Similar clearly negative P4 mentions (within watch_minutes) that open one."),
    Setting("incidents.watch_minutes", 60, "Window in which watched P4 mentions accumulate."),
    Setting("incidents.followup_minutes", 120, "P1/P2 incidents absorb lesser follow-ups this long after the last."),
    Setting("incidents.group_wait_s", 30, "Wait after an incident opens before its first alert (0: at once), "
            "to collect more mentions into it; tiers in group_wait_tiers override it."),
    Setting("incidents.group_wait_tiers", ["P1:0"],
            "Group wait of a new incident by tier, as TIER:SECONDS (P1:0: the first alert of a new P1 goes out "
            "at once). Later updates are still grouped by group_interval_s."),
    Setting("incidents.group_interval_s", 300, "Least time between two update alerts about one incident."),
    Setting("incidents.repeat_interval_s", 14400, "Re-send an unchanged open incident to informed recipients."),
    Setting("incidents.escalate_minutes", ["P1:5", "P2:15", "P3:60"],
            "Minutes without acknowledgement before the next level is notified, as TIER:MIN."),
    Setting("incidents.remind_minutes", ["P1:10", "P2:30", "P3:120"],
            "Reminder interval to must-act recipients until acknowledged, as TIER:MIN."),
    Setting("incidents.default_routes", True,
            "Keep the built-in routes where your [[routes]] leave a gap: a tier (P1-P4) without a level-0 route "
            "for all its incidents keeps its default route (P1/P2 managers and on-call must act, P3 managers "
            "informed, P4 managers in the digest), and a must-act tier without a level-1 route keeps the "
            "default escalation to admins. false: only your routes (start and `lantern check` warn about each "
            "tier nobody hears about and each must-act tier that never escalates)."),
    Setting("incidents.quiet_hours", "", "Quiet hours HH:MM-HH:MM (local): alerts below P1 wait for a digest."),
    Setting("incidents.quiet_on_holidays", False,
            "Also quiet on rest days of the mainland China calendar (statutory holidays and weekends; 调休 "
            "working weekends count as workdays): alerts below P1 wait for the daily digest. Uses the "
            "chinese-calendar package's offline data: in a year it does not cover every day counts as a "
            "workday (alerts go out at once), with a daily log warning and one on-call health alert; the log "
            "warns 30 days before the data ends."),
    Setting("incidents.digest_at", "09:00", "Local time the daily digest (P4 and overflow) is sent."),
    Setting("incidents.max_attempts", 8, "Delivery attempts of one alert before it is marked failed."),
    Setting("incidents.tick_s", 1.0, "How often the alert engine checks timers, in seconds."),
    Setting("incidents.ack_link_hours", 72, "How long the acknowledge link inside an alert stays valid."),
    # -- broadcast --------------------------------------------------------
    Setting("broadcast.approvals_normal", ["*"],
            "Approvals a normal script needs: one entry per approver, a team name or * (any manager)."),
    Setting("broadcast.approvals_high", ["*"], "Approvals a high-priority script needs (team names or *)."),
    Setting("broadcast.approvals_critical", ["*", "*"],
            'Approvals a critical script needs, e.g. ["pr", "service"] (one from each team).'),
    Setting("broadcast.ping_interval_s", 25,
            "Seconds between heartbeats to ticker clients; clients silent for 3 intervals are dropped."),
    Setting("broadcast.withdrawn_s", 120, "Seconds a retracted script stays on the ticker marked 已撤回 / withdrawn."),
    Setting("broadcast.max_buffer_bytes", 1_000_000,
            "Unsent bytes a slow ticker client may queue before it is dropped and made to resync."),
    Setting("broadcast.history", 2000, "Deltas kept for reconnecting clients; an older gap gets a fresh snapshot."),
    Setting("broadcast.stale_after_s", 60.0,
            "Seconds without any message from the server (scripts, pings) after which an agent's ticker warns "
            "话术可能已过期，请刷新/联系主管 / scripts may be out of date. Must be longer than ping_interval_s.",
            check=lambda seconds: seconds > 0 or _bad("must be more than 0")),
    Setting("broadcast.review_hours", ["critical:4", "high:12", "normal:48"],
            "Default \"review by\" of a published script, as PRIORITY:HOURS after publishing (a version may set "
            "its own review_by); past it the agents' tickers warn that the script may be out of date. 0 or a "
            "missing priority: no default."),
    # -- console --------------------------------------------------------
    Setting("console.live_heartbeat_s", 15.0,
            "Seconds between keep-alive comments on the console's live event stream (/api/live).",
            check=lambda seconds: seconds > 0 or _bad("must be more than 0")),
    Setting("console.live_history", 1000,
            "Console events kept in memory so a reconnecting console resumes (Last-Event-ID); older: full refresh."),
    Setting("console.live_queue", 256,
            "Events waiting for one console connection before that slow client is dropped (it reconnects)."),
    Setting("console.fallback_polling", True,
            "While the live stream is down, consoles poll (board every 5 s); false: they wait for the stream."),
    # -- demo -------------------------------------------------------------
    Setting(
        "demo.speed",
        12.0,
        "Speed-up of the demo replay (the recorded stream spans ~17 minutes; 12 brings the crisis within a minute).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}
# Old names still read (file key, environment variable, override), each time with a warning.
ALIASES: dict[str, str] = {"broadcast.redis_url": "redis.url", "broadcast.redis_prefix": "redis.prefix"}
LIST_SECTIONS = ("sources", "channels", "routes", "plans", "shifts")
# Free-form tables handed as they are to their owner: [tier] is the classifier's
# TierPolicy (weights, thresholds, authority lists; see classifiers/tiers.py).
TABLE_SECTIONS = ("tier",)
_SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))


def _env_name(name: str) -> str:
    return "LANTERN_" + name.replace(".", "_").upper()


def _renamed(origin: str, old: str, new: str, *, ignored: bool) -> str:
    """The warning about an old setting name (zh-CN, then English)."""
    if ignored:
        return (f"{origin}: {old} 已改名为 {new}；两者都设置了，{old} 被忽略 "
                f"({old} is now {new}; both are set, so {old} is ignored: remove it)")
    return (f"{origin}: {old} 已改名为 {new}，旧名称暂时仍可用，请改用新名称 "
            f"({old} is now {new}; the old name still works for now, please use the new one)")


def valid_tables() -> str:
    return ", ".join([*(f"[{s}]" for s in (*_SECTIONS, *TABLE_SECTIONS)), *(f"[[{s}]]" for s in LIST_SECTIONS)])


def _bad(message: str) -> bool:
    raise ValueError(message)


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    converted = _convert(setting, value, origin)
    if setting.check is not None:
        try:
            setting.check(converted)
        except ValueError as exc:
            raise ConfigError(f"{origin}: {setting.name}: {exc}") from None
    return converted


def _convert(setting: Setting, value: Any, origin: str) -> Any:
    default = setting.default
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(default, list):
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, str):
        return value
    raise ConfigError(
        f"{origin}: {setting.name} must be a {type(default).__name__}, got {value!r}"
    )


class Settings:
    """Resolved settings: ``settings["server.port"]`` plus the raw list tables."""

    def __init__(self, values: Mapping[str, Any], lists: Mapping[str, list[dict[str, Any]]],
                 path: Path | None = None, tables: Mapping[str, dict[str, Any]] | None = None,
                 warnings: tuple[str, ...] = ()) -> None:
        self._values = dict(values)
        self.lists = {k: list(lists.get(k, [])) for k in LIST_SECTIONS}
        self.tables = {k: dict((tables or {}).get(k, {})) for k in TABLE_SECTIONS}
        self.path = path
        self.warnings = warnings  # e.g. an old setting name was used: logged at start, shown by `lantern check`

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some settings replaced; keys use ``__`` for the dot."""
        values = dict(self._values)
        warnings = list(self.warnings)
        for key, value in overrides.items():
            name = key.replace("__", ".")
            if name in ALIASES:
                warnings.append(_renamed("override", name, ALIASES[name], ignored=False))
                name = ALIASES[name]
            if name not in _BY_NAME:
                raise ConfigError(f"unknown setting {name}")
            values[name] = _coerce(_BY_NAME[name], value, "override")
        return Settings(values, self.lists, self.path, self.tables, tuple(warnings))

    def with_lists(self, **lists: list[dict[str, Any]]) -> Settings:
        """A copy with some ``[[sources]]``/``[[channels]]``/... lists replaced."""
        unknown = set(lists) - set(LIST_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown list section(s): {', '.join(sorted(unknown))}")
        return Settings(self._values, {**self.lists, **lists}, self.path, self.tables, self.warnings)

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self.lists["sources"]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (if any), then ``LANTERN_*`` environment variables.

    With ``path=None`` a ``lantern.toml`` in the working directory is used if
    present; a missing file given explicitly is an error.
    """
    env = os.environ if env is None else env
    file_path: Path | None = None
    if path is not None:
        file_path = Path(path)
        if not file_path.is_file():
            raise ConfigError(f"config file not found: {file_path}")
    elif env.get("LANTERN_CONFIG"):
        file_path = Path(env["LANTERN_CONFIG"])
        if not file_path.is_file():
            raise ConfigError(f"config file not found (LANTERN_CONFIG): {file_path}")
    elif Path("lantern.toml").is_file():
        file_path = Path("lantern.toml")

    values = {s.name: s.default for s in SETTINGS}
    lists: dict[str, list[dict[str, Any]]] = {}
    tables: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    if file_path is not None:
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file_path}: not UTF-8 text") from exc
        for section, body in data.items():
            if section in LIST_SECTIONS:
                if not isinstance(body, list) or not all(isinstance(x, dict) for x in body):
                    raise ConfigError(f"{file_path}: [[{section}]] must be a list of tables")
                lists[section] = body
                continue
            if section in TABLE_SECTIONS and isinstance(body, dict):
                tables[section] = body
                continue
            if not isinstance(body, dict) or section not in _SECTIONS:
                what = f"[{section}]" if isinstance(body, dict) else repr(section)
                raise ConfigError(f"{file_path}: 未知的表或键 {what} (unknown table or top-level key); "
                                  f"可用的表 (valid tables): {valid_tables()}")
            for key, value in body.items():
                name = f"{section}.{key}"
                if name in ALIASES:
                    new = ALIASES[name]
                    given = data.get(new.split(".")[0], {})
                    if isinstance(given, dict) and new.split(".")[1] in given:
                        warnings.append(_renamed(str(file_path), name, new, ignored=True))
                        continue
                    warnings.append(_renamed(str(file_path), name, new, ignored=False))
                    values[new] = _coerce(_BY_NAME[new], value, f"{file_path}: {name}")
                    continue
                if name not in _BY_NAME:
                    keys = ", ".join(s.key for s in SETTINGS if s.section == section)
                    raise ConfigError(f"{file_path}: [{section}] 未知键 {key} (unknown setting {name}); "
                                      f"可用的键 (valid keys): {keys}")
                values[name] = _coerce(_BY_NAME[name], value, str(file_path))
    for old, new in ALIASES.items():
        old_env, new_env = _env_name(old), _env_name(new)
        if old_env in env:
            warnings.append(_renamed("environment", old_env, new_env, ignored=new_env in env))
            if new_env not in env:
                values[new] = _coerce(_BY_NAME[new], env[old_env], old_env)
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
    return Settings(values, lists, file_path, tables, tuple(warnings))


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
