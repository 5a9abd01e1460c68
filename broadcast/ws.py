"""The websocket network layer (aiohttp): moves bytes between a socket and the hub, nothing more.

Frames from the hub are pre-built and written straight to the connection's
transport, so a broadcast never awaits a client.  Compression is off: a
deflate context costs far more memory per connection than it saves on
short scripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import WSMsgType, web

from .hub import Connection, TickerHub
from .model import Viewer

MAX_CLIENT_MESSAGE = 4096
# Close codes of the protocol (PROTOCOL.md, "Closing").
CLOSE_SIGNED_OUT = 4401  # the account or the credential no longer signs in: do not reconnect, sign in again
CLOSE_RECONNECT = 4205  # the account changed what it may see: reconnect now, without since/epoch


class TransportSink:
    """A :class:`broadcast.hub.Sink` over an asyncio transport."""

    __slots__ = ("transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def abort(self) -> None:
        self.transport.abort()


def parse_resume(query: dict[str, str] | object) -> tuple[int | None, str | None]:
    """``?since=<rev>&epoch=<epoch>`` -> (since, epoch); anything malformed means "send a snapshot"."""
    get = getattr(query, "get")  # noqa: B009 - MultiDictProxy or dict
    raw_since, epoch = get("since"), get("epoch")
    try:
        since = int(raw_since) if raw_since not in (None, "") else None
    except ValueError:
        since = None
    if not isinstance(epoch, str) or not (0 < len(epoch) <= 64):
        epoch = None
    return since, epoch


class TickerSocket:
    """One open ticker connection, as the caller of :func:`serve_ticker` may close it."""

    def __init__(self, ws: web.WebSocketResponse, hub: TickerHub, conn: Connection) -> None:
        self.ws, self.hub, self.conn = ws, hub, conn
        self.closing: asyncio.Task[bool] | None = None

    def close(self, code: int, reason: str) -> None:
        """Stop writing to it at once and close it with ``code`` (the close handshake runs in its own task)."""
        self.hub.disconnect(self.conn)
        if self.closing is None and not self.ws.closed:
            self.closing = asyncio.ensure_future(self.ws.close(code=code, message=reason.encode()[:120]))


# Told each opened socket; returns what to call when it ends.
OnOpen = Callable[[TickerSocket], Callable[[], None]]


async def serve_ticker(request: web.Request, hub: TickerHub, viewer: Viewer, *,
                       on_open: OnOpen | None = None) -> web.WebSocketResponse:
    """Upgrade ``request`` and pump it until the client leaves (or the hub drops it, or it is closed)."""
    since, epoch = parse_resume(request.query)
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_CLIENT_MESSAGE, autoping=True)
    await ws.prepare(request)
    transport = request.transport
    if transport is None or transport.is_closing():
        return ws
    conn = hub.connect(viewer, TransportSink(transport), since, epoch)
    socket = TickerSocket(ws, hub, conn)
    ended = on_open(socket) if on_open is not None else None
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                hub.on_message(conn, msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.close(code=1003, message=b"text frames only")
    finally:
        hub.disconnect(conn)
        if ended is not None:
            ended()
    if socket.closing is not None:
        await socket.closing  # the close handshake ends before the handler does
    return ws
