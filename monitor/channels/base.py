"""The channel interface, the message every channel renders, and the shared HTTP helper."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from ..netguard import BlockedAddressError, GuardedConnector, NetPolicy, guarded_session
from .errors import ChannelConfigError, DeliveryError

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Mention:
    """A person a channel message names: the address this channel's service knows them by.

    ``user_id`` is the id on the channel's own service (DingTalk ``userId``, WeCom
    ``userid``, Feishu ``open_id``); robots that allow it fall back to ``mobile``.
    """

    label: str
    user_id: str = ""
    mobile: str = ""  # 11 digits, mainland China
    email: str = ""


@dataclass(frozen=True)
class Message:
    """One alert as channels render it (zh-CN text; ``data`` is the structured form for webhooks)."""

    title: str
    text: str  # markdown
    tier: str
    kind: str
    incident_id: int | None = None
    ack_url: str = ""
    console_url: str = ""
    must_act: bool = False
    recipient: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    lang: str = "zh-CN"
    mentions: tuple[Mention, ...] = ()  # people to @ (robots) or to add as recipients (e-mail)
    # (person, URL): a personal acknowledge link per person the message names; ``ack_url`` is then the
    # link for anyone else (its page asks who is acknowledging).
    ack_links: tuple[tuple[str, str], ...] = ()

    @property
    def ack_label(self) -> str:
        return "Acknowledge" if self.lang == "en" else "确认处理"

    @property
    def details_label(self) -> str:
        return "Details" if self.lang == "en" else "查看详情"

    @property
    def others_label(self) -> str:
        return "someone else" if self.lang == "en" else "其他人"

    def ack_choices(self) -> list[tuple[str, str]]:
        """(button label, URL) of every acknowledge link: one per named person, then the group link."""
        if not self.ack_url:
            return []
        if not self.ack_links:
            return [(self.ack_label, self.ack_url)]
        sep = ": " if self.lang == "en" else "："
        return [(f"{self.ack_label}{sep}{person}", url) for person, url in self.ack_links] + [
            (f"{self.ack_label}{sep}{self.others_label}", self.ack_url)]

    def links(self) -> list[tuple[str, str]]:
        return [*self.ack_choices(), *([(self.details_label, self.console_url)] if self.console_url else [])]

    def markdown(self) -> str:
        links = [f"[{label}]({url})" for label, url in self.links()]
        return self.text + ("\n\n" + " | ".join(links) if links else "")

    def plain_lines(self) -> list[str]:
        """The text without markdown emphasis, for message types that show text as typed."""
        return [line.replace("**", "").removeprefix("> ") for line in self.text.splitlines()]

    def plain(self, limit: int | None = None) -> str:
        """Title, text and links as plain text; with ``limit`` (UTF-8 bytes) the text is cut, never the links."""
        links = "".join(f"\n{label}: {url}" for label, url in self.links())
        body = "\n".join([self.title, *self.plain_lines()])
        if limit is not None:
            body = truncate_bytes(body, max(64, limit - len(links.encode("utf-8")) - 1))
        return body + ("\n" + links if links else "")


COMMON_OPTIONS: dict[str, str] = {
    "name": "Unique name of this destination; [[routes]] and `lantern alert test NAME` refer to it.",
    "kind": "dingtalk | wecom | feishu | email | webhook | console (the in-app inbox, always there).",
    "timeout_s": "Seconds to wait for the service's answer before the attempt counts as failed and is "
                 "retried (default 10).",
    "rate_per_minute": "Send at most this many messages a minute (default: the vendor's limit, DingTalk and "
                       "WeCom 20, Feishu 100); more wait, P1 first.",
    "rate_per_second": "Send at most this many messages a second (default: Feishu 5, others no limit).",
}


class Channel(abc.ABC):
    """One configured destination.  Subclasses set ``kind``, the service's rate limits and ``options``.

    ``options`` maps every key of the kind's table (besides :data:`COMMON_OPTIONS`) to its help text
    for users; the commented ``lantern init`` file is written from them and any other key is refused.
    """

    kind: ClassVar[str]
    options: ClassVar[dict[str, str]] = {}
    default_url: ClassVar[str] = ""  # the vendor's endpoint when the table gives no url
    rate_per_minute: ClassVar[int | None] = None  # the vendor's limits; config may lower them
    rate_per_second: ClassVar[int | None] = None
    secret_keys: ClassVar[tuple[str, ...]] = ("secret", "token", "key", "password", "url")
    network: NetPolicy = NetPolicy()  # addresses post() may connect to; build_channels sets the configured one
    last_reply: tuple[int, Any] | None = None  # (HTTP status, parsed JSON) of the latest post()

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.config = config
        unknown = sorted(set(config) - set(COMMON_OPTIONS) - set(self.options))
        if unknown:
            raise ChannelConfigError(
                f"[[channels]] {name!r} ({self.kind}): 未知键 {', '.join(unknown)} (unknown key); "
                f"可用的键 (valid keys): {', '.join(self.valid_keys())}")
        try:
            self.timeout = float(config.get("timeout_s", 10))
            self.per_minute: int | None = int(config.get("rate_per_minute", self.rate_per_minute or 0)) or None
            self.per_second: int | None = int(config.get("rate_per_second", self.rate_per_second or 0)) or None
        except (TypeError, ValueError):
            raise ChannelConfigError(f"[[channels]] {name!r}: timeout_s / rate_per_minute / rate_per_second "
                                     "必须是数字 (must be numbers)") from None
        if self.timeout <= 0:
            raise ChannelConfigError(f"[[channels]] {name!r}: timeout_s 必须大于 0 (must be positive)")

    def endpoint(self) -> str:
        """The URL this channel posts to (a secret: never shown); empty for channels that do not use HTTP."""
        return str(self.config.get("url") or self.default_url)

    @classmethod
    def valid_keys(cls) -> list[str]:
        return [*COMMON_OPTIONS, *cls.options]

    @abc.abstractmethod
    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`."""

    def secrets(self) -> list[str]:
        """Every configured value that must never appear in logs, errors or API output."""
        values = [str(self.config[k]) for k in self.secret_keys if self.config.get(k)]
        url = str(self.config.get("url") or "")
        parts = urlsplit(url)
        values += [p for p in parts.path.split("/") if len(p) >= 8] + [q for q in parts.query.split("&") if q]
        return [v for v in values if v]

    def describe(self) -> dict[str, Any]:
        """What the API may show: never URLs' paths, tokens, secrets or passwords."""
        host = urlsplit(str(self.config.get("url") or "")).hostname or self.config.get("host") or ""
        return {"name": self.name, "kind": self.kind, "host": host, "per_minute": self.per_minute,
                "per_second": self.per_second, "signed": bool(self.config.get("secret"))}

    def require(self, *keys: str, alternative: str = "") -> None:
        """Each of ``keys`` must be set; ``alternative`` names what may be given instead (shown in the error)."""
        for key in keys:
            if not self.config.get(key):
                other = f" 或 {alternative}" if alternative else ""
                raise ChannelConfigError(f"[[channels]] {self.name!r} ({self.kind}): 缺少 {key}{other} "
                                         f"(missing {key!r}{f' or {alternative}' if alternative else ''})")


def open_session(policy: NetPolicy) -> aiohttp.ClientSession:
    """A session for channel posts that connects only to addresses ``policy`` allows (checked at connect time)."""
    return guarded_session(policy)


async def post(http: aiohttp.ClientSession, channel: Channel, url: str, *, body: bytes,
               params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST ``body``; returns (status, parsed JSON or None).  Errors never carry the URL.

    Only addresses ``channel.network`` allows are connected to: ``http`` is used when it is an
    :func:`open_session` session with that policy, else a short-lived one is.  A refused address is a
    permanent :class:`DeliveryError` naming host and rule.
    """
    connector = http.connector
    if isinstance(connector, GuardedConnector) and connector.policy == channel.network:
        reply = await _post(http, channel, url, body=body, params=params, headers=headers)
    else:
        async with open_session(channel.network) as session:
            reply = await _post(session, channel, url, body=body, params=params, headers=headers)
    channel.last_reply = reply  # what `lantern alert test` reports
    return reply


async def _post(http: aiohttp.ClientSession, channel: Channel, url: str, *, body: bytes,
                params: dict[str, str] | None, headers: dict[str, str] | None) -> tuple[int, Any]:
    hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        async with http.post(url, data=body, params=params, headers=hdrs, allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=channel.timeout)) as resp:
            raw = await resp.content.read(MAX_BODY)
            status = resp.status
            retry_after = resp.headers.get("Retry-After", "")
    except BlockedAddressError as exc:  # before ClientError: it is one
        raise DeliveryError(f"{channel.name}: {exc}", retryable=False) from None
    except TimeoutError as exc:
        raise DeliveryError(f"{channel.name}: 请求超时 (timed out)", retryable=True) from exc
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise DeliveryError(f"{channel.name}: 网络错误 (network error: {type(exc).__name__})",
                            retryable=True) from None
    if status == 429 or status >= 500 or status == 408:
        wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
        raise DeliveryError(f"{channel.name}: HTTP {status}", retryable=True, retry_after=wait)
    if status >= 300:
        raise DeliveryError(f"{channel.name}: HTTP {status}", retryable=False)
    try:
        return status, json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError):
        return status, None


def check_code(channel: Channel, data: Any, *, keys: tuple[str, ...], retryable_codes: frozenset[int],
               rate_codes: frozenset[int]) -> None:
    """HTTP 200 with a non-zero ``errcode`` / ``code`` is a failure."""
    if not isinstance(data, dict):
        raise DeliveryError(f"{channel.name}: 回复不是 JSON (reply is not JSON)", retryable=True)
    code = next((data[k] for k in keys if k in data), None)
    if code in (0, None) and any(k in data for k in keys):
        return
    if code is None:
        raise DeliveryError(f"{channel.name}: 回复缺少错误码 (reply has no status code)", retryable=False)
    message = str(data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or "")[:120]
    retryable = code in retryable_codes or code in rate_codes
    raise DeliveryError(f"{channel.name}: 错误码 {code} {message}".strip(), retryable=retryable,
                        retry_after=60.0 if code in rate_codes else None)


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def truncate_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "…"

