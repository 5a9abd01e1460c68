"""A source's configuration: validated once, redacted whenever shown.

A source is a ``[[sources]]`` table of ``lantern.toml`` or a JSON object
posted to ``/api/sources``.  Common keys::

    name        unique, letters/digits/CJK and ``-_.`` (used in URLs)
    kind        rss | json | html | push | demo  (see monitor/sources/)
    url         what to fetch (not for push/demo)
    interval_s  seconds between polls (1 s .. 7 days); jitter_s spreads them
    timeout_s   HTTP timeout;  max_bytes  response size cap
    headers     extra request headers (secret: never shown or logged)
    cookies     cookie string or table (secret)
    token       push token of a ``push`` source (secret)
    query       brand query, see monitor/query.py
    encoding    force a text encoding (e.g. "gbk") when the server lies
    enabled     false = paused

Every other key is an option of the source kind, validated by that kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from .errors import SourceConfigError
from .query import Query

SECRET_KEYS = ("headers", "cookies", "token")
REDACTED = "***"
_READ_ONLY = {"health", "next_run_at", "paused"}  # shown by list_sources, not settable by PATCH
_NAME = re.compile(r"^[\w\u4e00-\u9fff.-]{1,64}$")
# Every key a source of any kind may have, with its help for users (the commented lantern.toml is written
# from it); a kind's own options are its ``options_help``.
COMMON_KEYS: dict[str, str] = {
    "name": "Unique name (letters, digits, 中文, - _ .), shown in the console and used in URLs.",
    "kind": "rss (RSS/Atom, RSSHub routes) | json (a JSON API) | html (a web page, CSS selectors) | push "
            "(items POSTed to /api/ingest) | demo (the bundled replay).",
    "url": "What to fetch (http:// or https://); not for push or demo.",
    "interval_s": "Seconds between polls (default monitor.default_interval_s; 1 s .. 7 days).",
    "jitter_s": "Random extra delay up to this many seconds, so sources of one host do not poll at once "
                "(default: 10 % of the interval, at most 30).",
    "timeout_s": "HTTP timeout in seconds (default monitor.default_timeout_s).",
    "max_bytes": "Largest response accepted (default monitor.max_response_bytes).",
    "headers": 'Extra request headers, e.g. { Authorization = "Bearer ..." }. Kept secret.',
    "cookies": 'Cookie string or table, e.g. "SUB=...; SUBP=..." for RSSHub routes that need a login. Kept secret.',
    "token": "push only: the token the pushing system sends (shown once when the source is added in the "
             "console; leave it out here to have one generated).",
    "query": 'Brand query a mention must match, e.g. "(鲜味楼 OR 鲜味) AND (老鼠 OR 过期) NOT 招聘" (default: '
             "everything the source brings).",
    "encoding": 'Force a text encoding such as "gbk" when the server declares none or the wrong one.',
    "enabled": "false: keep the source but do not poll it.",
    "brand": "Brand this source is about; incidents and the brands of [[routes]] and [[plans]] use it "
             "(default: the first of monitor.brands).",
}
_COMMON = set(COMMON_KEYS)


@dataclass(frozen=True)
class Defaults:
    """Settings-level defaults a source falls back to (monitor.* settings)."""

    interval_s: float = 300.0
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    per_host_concurrency: int = 2
    timezone: str = "Asia/Shanghai"
    failure_alert_after: int = 3
    silence_factor: float = 6.0
    near_duplicate_bits: int = 10
    parse_workers: int = 1
    parse_time_limit_s: float = 10.0


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    url: str = ""
    interval_s: float = 300.0
    jitter_s: float = 0.0
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: str = ""
    token: str = ""
    query: str = ""
    encoding: str = ""
    enabled: bool = True
    brand: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def compiled_query(self) -> Query:
        return Query(self.query)

    def with_enabled(self, enabled: bool) -> SourceConfig:
        return replace(self, enabled=enabled)

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The configuration as stored (``redact=False``) or as shown to people (secrets as ``***``)."""
        data: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "url": self.url, "interval_s": self.interval_s,
            "jitter_s": self.jitter_s, "timeout_s": self.timeout_s, "max_bytes": self.max_bytes,
            "query": self.query, "encoding": self.encoding, "enabled": self.enabled,
            **({"brand": self.brand} if self.brand else {}),
            "headers": dict(self.headers), "cookies": self.cookies, "token": self.token,
            **dict(self.options),
        }
        if redact:
            data["headers"] = {k: REDACTED for k in self.headers}
            data["cookies"] = REDACTED if self.cookies else ""
            data["token"] = REDACTED if self.token else ""
            data["url"] = redact_url(self.url)
        return data


# Query parameters that carry credentials (compared case-insensitively, "-" and "_" ignored).
URL_SECRET_PARAMS = frozenset({
    "key", "apikey", "appkey", "accesskey", "secretkey", "privatekey", "token", "accesstoken", "authtoken",
    "refreshtoken", "idtoken", "sessiontoken", "secret", "clientsecret", "appsecret", "sign", "signature", "sig",
    "password", "passwd", "pwd", "pass", "auth", "authorization", "code", "ticket", "session", "sessionid",
    "sid", "cookie", "credential", "credentials", "xapikey", "xtoken", "jwt", "bearer",
})
_QUERY_PARAM = re.compile(r"([?&;])([^=&#;]*)=([^&#;]*)")
_USERINFO = re.compile(r"^([A-Za-z][\w+.-]*://)([^/?#@]*)@")


def _secret_param(name: str) -> bool:
    return re.sub(r"[-_.\s]", "", unquote(name)).lower() in URL_SECRET_PARAMS


def redact_url(url: str) -> str:
    """``url`` with credential-looking query parameters and the userinfo password masked as ``***``."""
    def userinfo(m: re.Match[str]) -> str:
        user, _, password = m.group(2).partition(":")
        return f"{m.group(1)}{user}:{REDACTED}@" if password else f"{m.group(1)}{REDACTED}@"

    url = _USERINFO.sub(userinfo, url, count=1)
    return _QUERY_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={REDACTED}" if _secret_param(m.group(2)) and
                            m.group(3) else m.group(0), url)


def unredact_url(new: str, current: str) -> str:
    """``new`` with each ``***`` a masked listing left in place replaced by the stored secret of ``current``.

    So a manager can edit a source's URL as the API shows it (changing ``q=`` of
    ``...?apikey=***&q=...``) without re-entering, or wiping, the secret.
    """
    if REDACTED not in new:
        return new
    secrets: dict[str, list[str]] = {}
    for m in _QUERY_PARAM.finditer(current):
        if _secret_param(m.group(2)):
            secrets.setdefault(m.group(2), []).append(m.group(3))
    seen: dict[str, int] = {}

    def param(m: re.Match[str]) -> str:
        name, value = m.group(2), m.group(3)
        index = seen.get(name, 0)
        seen[name] = index + 1
        stored = secrets.get(name, [])
        if value == REDACTED and index < len(stored):
            return f"{m.group(1)}{name}={stored[index]}"
        return m.group(0)

    def userinfo(m: re.Match[str]) -> str:
        old = _USERINFO.match(current)
        if old is None:
            return m.group(0)
        user, _, password = m.group(2).partition(":")
        old_user, _, old_password = old.group(2).partition(":")
        if m.group(2) == REDACTED:
            return f"{m.group(1)}{old.group(2)}@"
        if password == REDACTED and user == old_user:
            return f"{m.group(1)}{user}:{old_password}@"
        return m.group(0)

    return _QUERY_PARAM.sub(param, _USERINFO.sub(userinfo, new, count=1))


def _number(data: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceConfigError(f"{key} 必须是数字 ({key} must be a number), got {type(value).__name__}")
    if not low <= value <= high:
        raise SourceConfigError(f"{key} 必须在 {low:g} 到 {high:g} 之间 ({key} out of range): {value}")
    return float(value)


def parse_config(data: Mapping[str, Any], defaults: Defaults, kinds: Mapping[str, Any]) -> SourceConfig:
    """Validate a source table; ``kinds`` maps kind names to source classes (for their options)."""
    if not isinstance(data, Mapping):
        raise SourceConfigError("source must be a table / JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SourceConfigError(f"name 无效 (invalid source name): {name!r}; use letters, digits, 中文, - _ .")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise SourceConfigError(f"{name}: 未知的来源类型 kind={kind!r} (known: {', '.join(sorted(kinds))})")
    cls = kinds[kind]
    own = dict(getattr(cls, "options_help", {}))
    unknown = sorted(set(data) - _COMMON - set(own))
    if unknown:
        raise SourceConfigError(f"{name}: 未知键 {', '.join(unknown)} (unknown key for kind {kind}); "
                                f"可用的键 (valid keys): {', '.join([*COMMON_KEYS, *own])}")
    url = data.get("url", "")
    if not isinstance(url, str):
        raise SourceConfigError(f"{name}: url must be a string")
    if getattr(cls, "needs_url", True) and not re.match(r"^https?://[^\s/]+", url):
        raise SourceConfigError(f"{name}: url 必须是 http(s) 地址 (url must be http:// or https://)")
    interval = _number(data, "interval_s", getattr(cls, "default_interval_s", None) or defaults.interval_s,
                       1, 7 * 86400)
    headers = data.get("headers", {}) or {}
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in headers.items()):
        raise SourceConfigError(f"{name}: headers must be a table of strings")
    cookies = data.get("cookies", "") or ""
    if isinstance(cookies, Mapping):
        cookies = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if not isinstance(cookies, str):
        raise SourceConfigError(f"{name}: cookies must be a string or a table")
    for key in ("token", "query", "encoding", "brand"):
        if not isinstance(data.get(key, ""), str):
            raise SourceConfigError(f"{name}: {key} must be a string")
    encoding = data.get("encoding", "") or ""
    if encoding:
        try:
            "".encode(encoding)
        except LookupError as exc:
            raise SourceConfigError(f"{name}: 未知编码 (unknown encoding) {encoding!r}") from exc
    query = data.get("query", "") or ""
    try:
        Query(query)
    except SourceConfigError as exc:
        raise SourceConfigError(f"{name}: {exc}") from exc
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SourceConfigError(f"{name}: enabled must be true or false")
    options = {k: v for k, v in data.items() if k not in _COMMON}
    try:
        options = cls.validate_options(options)
    except SourceConfigError as exc:
        raise SourceConfigError(f"{name}: {exc}") from exc
    return SourceConfig(
        name=name, kind=kind, url=url, interval_s=interval,
        jitter_s=_number(data, "jitter_s", min(interval * 0.1, 30.0), 0, 86400),
        timeout_s=_number(data, "timeout_s", defaults.timeout_s, 0.1, 600),
        max_bytes=int(_number(data, "max_bytes", defaults.max_bytes, 1024, 500_000_000)),
        headers=dict(headers), cookies=cookies, token=data.get("token", "") or "", query=query,
        encoding=encoding, enabled=enabled, brand=str(data.get("brand") or ""), options=options,
    )


def merge_update(current: SourceConfig, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of ``current`` with ``changes`` applied; ``***`` keeps a secret unchanged."""
    if "name" in changes and changes["name"] != current.name:
        raise SourceConfigError("a source cannot be renamed; add a new one and remove this one")
    merged = current.to_dict(redact=False)
    for key, value in changes.items():
        if key in _READ_ONLY or (key in SECRET_KEYS and value == REDACTED):
            continue
        if key == "url" and isinstance(value, str):
            value = unredact_url(value, current.url)  # masked parts shown by the API keep the stored secret
        if key == "headers" and isinstance(value, Mapping):
            value = {k: (current.headers.get(k, "") if v == REDACTED else v) for k, v in value.items()}
        merged[key] = value
    return merged
