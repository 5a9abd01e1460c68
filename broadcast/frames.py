"""Encoding helpers: JSON once per message, one unmasked websocket text frame per payload (RFC 6455 5.2).

The hub builds a frame once and writes the same bytes to every socket, so a
publish to 10,000 agents costs one ``json.dumps`` and one header.
"""

from __future__ import annotations

import json
import struct
from typing import Any


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked (server to client) text frame carrying ``payload``."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


PING = encode({"type": "ping"})
PONG = encode({"type": "pong"})
PING_FRAME = text_frame(PING)
PONG_FRAME = text_frame(PONG)
