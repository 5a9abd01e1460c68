"""Build channels from ``[[channels]]`` tables.

Schema (one table per destination)::

    [[channels]]
    name = "crisis-dingtalk"      # unique; routes refer to it
    kind = "dingtalk"             # dingtalk | wecom | feishu | email | webhook | console
    url = "..."                   # optional for robots (default: the vendor's endpoint); required for webhook
    token = "..."                 # dingtalk access_token / feishu hook id; wecom uses key = "..."
    secret = "..."                # signing secret (dingtalk, feishu, webhook)
    rate_per_minute = 20          # optional override of the vendor's limit
    timeout_s = 10
    # email: host, port, security = "starttls"|"ssl"|"none", username, password, sender, to = [..], ca_file

A ``console`` channel (in-app) always exists, even with no configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..netguard import NetPolicy
from .base import Channel
from .console import Console
from .dingtalk import DingTalk
from .email import Email
from .errors import ChannelConfigError
from .feishu import Feishu
from .webhook import Webhook
from .wecom import WeCom

KINDS: dict[str, type[Channel]] = {c.kind: c for c in (DingTalk, WeCom, Feishu, Email, Webhook, Console)}
CONSOLE = "console"


def build_channels(tables: list[dict[str, Any]], *, clock: Callable[[], float] | None = None,
                   network: NetPolicy | None = None) -> dict[str, Channel]:
    """Channels by name; ``network`` is the outbound address policy their HTTP posts obey."""
    channels: dict[str, Channel] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ChannelConfigError(f"[[channels]] #{index + 1} 必须是表 (must be a table)")
        name = str(table.get("name") or "").strip()
        kind = str(table.get("kind") or "").strip()
        if not name:
            raise ChannelConfigError(f"[[channels]] #{index + 1}: 缺少 name (missing 'name')")
        if name in channels:
            raise ChannelConfigError(f"[[channels]] {name!r}: 名称重复 (duplicate name)")
        if kind not in KINDS:
            raise ChannelConfigError(f"[[channels]] {name!r}: 未知类型 {kind!r} (kind must be one of "
                                     f"{', '.join(KINDS)})")
        cls: Any = KINDS[kind]
        if clock is not None and kind in ("dingtalk", "feishu", "webhook"):
            channels[name] = cls(name, table, clock=clock)
        else:
            channels[name] = cls(name, table)
    if CONSOLE not in channels:
        channels[CONSOLE] = Console(CONSOLE, {"kind": "console"})
    if network is not None:
        for channel in channels.values():
            channel.network = network
    return channels
