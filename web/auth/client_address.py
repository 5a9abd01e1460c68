"""The address of the client behind a request, with reverse proxies taken into account.

Behind a reverse proxy every connection comes from the proxy, so the login
rate limiter and the access log would see one address for everybody.  The
proxy passes the real one in ``X-Forwarded-For``, but any client can send
that header too, so it is believed only when the connection itself comes
from an address in ``web.trusted_proxies``.  Then the client is the
right-most address of the header that is not itself a trusted proxy: every
proxy appends the address it saw, so everything left of the first untrusted
hop may be made up by the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp.web_log import AccessLogger

from monitor import netguard
from monitor.netguard import Address, Network

CLIENT_KEY = "client_address"  # request key: the address the access log shows


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "::1"]`` -> networks; ValueError naming the first bad entry (the settings check)."""
    try:
        return netguard.parse_networks(values)
    except netguard.NotANetworkError as exc:
        raise ValueError(f"{exc.value!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)") from None


def parse_address(value: str | None) -> Address | None:
    """An IP address from a peer address or an ``X-Forwarded-For`` entry, else None.

    Accepts ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]:443``;
    an IPv4-mapped IPv6 address counts as its IPv4 address.
    """
    text = (value or "").strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """Decides the client address of a connection from ``peer`` and its ``X-Forwarded-For`` headers."""

    def __init__(self, networks: Sequence[Network] = ()) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str | None:
        """The client's address: ``peer`` unless ``peer`` is a trusted proxy that forwarded one."""
        hop = parse_address(peer)
        if not self.trusts(hop):
            return peer
        entries = [part for header in forwarded_for for part in header.split(",") if part.strip()]
        for entry in reversed(entries):
            address = parse_address(entry)
            if address is None:
                break  # garbage: nothing left of it can be told apart from a forgery
            hop = address
            if not self.trusts(address):
                break
        return str(hop)


class ClientAddressLogging(AccessLogger):
    """Access-log mixin: ``%a`` is the client address decided for the request, not the proxy's."""

    def _format_line(self, request: Any, response: Any, time: float) -> Any:
        line = super()._format_line(request, response, time)
        client = request.get(CLIENT_KEY) if request is not None else None
        if not client:
            return line
        return [(key, client if key == "remote_address" else value) for key, value in line]
