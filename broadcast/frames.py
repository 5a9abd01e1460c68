"""Encoding: JSON once per message, and its websocket text frame once (by ``websockets``).

The hub builds a frame once and writes the same bytes to every socket, so a
publish to 10,000 agents costs one ``json.dumps`` and one frame header.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.frames import Frame, Opcode


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked (server to client) text frame carrying ``payload``, as RFC 6455 5.2 lays it out.

    No extension is negotiated on the ticker (:mod:`broadcast.ws`), so the same
    bytes are right for every socket.
    """
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


PING = encode({"type": "ping"})
PONG = encode({"type": "pong"})
PING_FRAME = text_frame(PING)
PONG_FRAME = text_frame(PONG)
