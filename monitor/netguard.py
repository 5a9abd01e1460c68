"""Outbound address guard: which IP addresses Lantern may fetch from or post to (SSRF protection).

Sources are fetched from, and webhook / IM channels post to, URLs an admin
typed in.  The guard decides on the *resolved* IP address at connect time
(:class:`GuardedConnector`: a resolver wrapper for names, a check in
``connect`` for IP literals), so DNS names, DNS rebinding and every redirect
hop are covered; nothing is sent before the check passes.

Rules, first match wins:

1. Always refused (no setting re-opens them): cloud metadata addresses
   (169.254.169.254 and the rest of 169.254.0.0/16, Alibaba Cloud's
   100.100.100.200, AWS's fd00:ec2::254), link-local (169.254.0.0/16,
   fe80::/10), unspecified (0.0.0.0/8, ::), multicast (224.0.0.0/4, ff00::/8)
   and broadcast (255.255.255.255).  No feed or robot lives there; an
   ``allow`` of, say, 0.0.0.0/0 must never expose the machine's cloud
   credentials.
2. ``network.deny``: extra CIDRs, refused (deny wins over allow).
3. ``network.allow``: CIDRs always allowed (wins over ``block_private``).
4. ``network.block_private`` (default off: on-premise RSSHub and intranet
   feeds are normal in contact centres): loopback, RFC 1918, CGNAT
   (100.64.0.0/10) and IPv6 unique-local (fc00::/7) are refused.

An IPv6 address that carries an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is
judged by that IPv4 address too, so it cannot bypass the rules; legacy numeric
IPv4 spellings (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``) count as the address
they denote.  When a name resolves to several addresses, only the allowed
ones are connected to (``localhost`` with ``allow = ["127.0.0.0/8"]`` uses
127.0.0.1, not ::1); with none left the connection is refused.  Messages name
the host, the address and the rule, never a URL's path or query (they may
carry access keys).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import Connection
from aiohttp.resolver import DefaultResolver
from aiohttp.tracing import Trace

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# rule -> (zh-CN, English)
RULES: dict[str, tuple[str, str]] = {
    "metadata": ("云服务元数据地址", "cloud metadata address"),
    "link_local": ("链路本地地址", "link-local address"),
    "unspecified": ("未指定地址", "unspecified address"),
    "multicast": ("组播地址", "multicast address"),
    "broadcast": ("广播地址", "broadcast address"),
    "deny": ("在 network.deny 列表中", "listed in network.deny"),
    "private": ("内网或本机地址，且 network.block_private 已开启",
                "private or loopback address while network.block_private is on"),
}
ALWAYS = frozenset({"metadata", "link_local", "unspecified", "multicast", "broadcast"})


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Order matters: the first matching range names the rule (metadata before the link-local range holding it).
ALWAYS_BLOCKED: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("metadata", _nets("169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "fd00:ec2::254/128")),
    ("link_local", _nets("169.254.0.0/16", "fe80::/10")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("broadcast", _nets("255.255.255.255/32")),
)
PRIVATE: tuple[Network, ...] = _nets("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                     "100.64.0.0/10", "fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)


def parse_address(text: str) -> Address | None:
    """The IP address ``text`` denotes (brackets, zone ids, a trailing dot and legacy IPv4 forms allowed)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0].rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _judged(ip: Address) -> list[Address]:
    """The addresses ``ip`` is judged as: itself plus any IPv4 address it carries (only that, if mapped)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]  # the kernel connects to the IPv4 address itself
    embedded: ipaddress.IPv4Address | None = None
    if ip in _NAT64:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    elif ip.sixtofour is not None:
        embedded = ip.sixtofour
    elif ip in _IPV4_COMPATIBLE and int(ip) > 1:
        embedded = ipaddress.IPv4Address(int(ip))
    return [ip] if embedded is None else [ip, embedded]


def _within(ip: Address, nets: Iterable[Network]) -> bool:
    return any(ip.version == n.version and ip in n for n in nets)


class NotANetworkError(ValueError):
    """An entry of a network list that is neither an IP address nor a CIDR; ``value`` is that entry."""

    def __init__(self, value: object, setting: str = "") -> None:
        self.value = value
        where = f"{setting}: " if setting else ""
        super().__init__(f"{where}{value!r} 不是 IP 地址或 CIDR 网段 (not an IP address or CIDR)")


def parse_networks(values: Iterable[str], *, setting: str = "") -> tuple[Network, ...]:
    """``["10.0.0.0/8", "::1"]`` -> networks; :class:`NotANetworkError` for the first bad entry."""
    nets = []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise NotANetworkError(value, setting) from None
    return tuple(nets)


class BlockedAddressError(aiohttp.ClientConnectionError):
    """The guard refused a connection; nothing was sent.  ``str()`` is a zh-CN + English message."""

    def __init__(self, host: str, address: str, rule: str) -> None:
        self.host, self.address, self.rule = host, address, rule
        zh, en = RULES[rule]
        always = rule in ALWAYS
        zh += "，始终禁止" if always else ""
        en += ", always refused" if always else ""
        where = address if host.strip("[]").rstrip(".") == address else f"{host}（{address}）"
        super().__init__(f"出站地址被拒绝：{where} 是{zh} (outbound address refused: {host} -> {address}, {en})")


@dataclass(frozen=True)
class NetPolicy:
    """Which addresses may be connected to; the default refuses only the always-refused ranges."""

    block_private: bool = False
    deny: tuple[Network, ...] = ()
    allow: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, *, block_private: bool = False, deny: Iterable[str] = (), allow: Iterable[str] = ()) -> NetPolicy:
        """From settings values; ValueError naming the bad entry."""
        return cls(bool(block_private), parse_networks(deny, setting="network.deny"),
                   parse_networks(allow, setting="network.allow"))

    def rule_for(self, ip: Address) -> str | None:
        """The rule refusing ``ip``, or None if it may be connected to."""
        judged = _judged(ip)
        for rule, nets in ALWAYS_BLOCKED:
            if any(_within(a, nets) for a in judged):
                return rule
        if any(_within(a, self.deny) for a in judged):
            return "deny"
        if not self.block_private:
            return None
        if any(_within(a, PRIVATE) and not _within(a, self.allow) for a in judged):
            return "private"
        return None

    def check(self, host: str, address: str) -> None:
        """Raise :class:`BlockedAddressError` unless ``address`` (what ``host`` resolved to) is allowed."""
        ip = parse_address(address)
        if ip is None:  # not an address we can judge: refuse rather than guess
            raise BlockedAddressError(host, address, "unspecified")
        rule = self.rule_for(ip)
        if rule is not None:
            raise BlockedAddressError(host, str(ip), rule)

    def url_refusal(self, url: str) -> str | None:
        """Why ``url`` is refused when its host is an IP literal (None for names: judged at connect time)."""
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return None
        ip = parse_address(host) if host else None
        if ip is None:
            return None
        rule = self.rule_for(ip)
        return None if rule is None else str(BlockedAddressError(host, str(ip), rule))


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (aiohttp's default resolver) and keeps only the addresses the policy allows."""

    def __init__(self, policy: NetPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        first_refusal: BlockedAddressError | None = None
        for result in results:
            try:
                self.policy.check(host, str(result["host"]))
            except BlockedAddressError as exc:
                first_refusal = first_refusal or exc
                continue
            allowed.append(result)
        if not allowed and first_refusal is not None:
            raise first_refusal
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector that connects only to addresses ``policy`` allows (IP literals and resolved names)."""

    def __init__(self, policy: NetPolicy, *, resolver: AbstractResolver | None = None, **kwargs: Any) -> None:
        super().__init__(resolver=GuardedResolver(policy, resolver), **kwargs)
        self.policy = policy

    async def connect(self, req: aiohttp.ClientRequest, traces: list[Trace],
                      timeout: aiohttp.ClientTimeout) -> Connection:  # noqa: ASYNC109 (aiohttp signature)
        # IP literals never reach the resolver; pooled connections were checked when they were made.
        host = req.url.raw_host or ""
        ip = parse_address(host) if host else None
        if ip is not None:
            self.policy.check(host, str(ip))
        return await super().connect(req, traces, timeout)


def guarded_session(policy: NetPolicy, *, connector_limit: int = 100, **kwargs: Any) -> aiohttp.ClientSession:
    """A client session whose every connection passes ``policy`` (environment proxies ignored)."""
    connector = GuardedConnector(policy, limit=connector_limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, trust_env=False, **kwargs)
