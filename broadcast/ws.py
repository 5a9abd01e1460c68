"""The websocket network layer: moves bytes between a socket and the hub, nothing more.

aiohttp owns the HTTP/1.1 connection up to the upgrade; from the 101 on, the
socket belongs to one :class:`TickerSocket`, the only writer of its bytes.
RFC 6455 is the ``websockets`` package's sans-I/O :class:`ServerProtocol`:
it checks the handshake, parses the client's frames, answers pings and runs
the close handshake; this module feeds it the bytes aiohttp reads and writes
what it returns.  The hub's messages are frames serialised once per message
(:func:`broadcast.frames.text_frame`) and written as they are to every open
socket, so a broadcast never awaits a client.  No extension is offered, so
permessage-deflate is never negotiated: a deflate context costs far more
memory per connection than it saves on short scripts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from websockets.datastructures import Headers
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from .hub import Connection, TickerHub
from .model import Viewer

MAX_CLIENT_MESSAGE = 4096
CLOSE_TIMEOUT_S = 10.0  # a client that does not answer our close frame is cut off after this long
# Close codes of the protocol (PROTOCOL.md, "Closing").
CLOSE_SIGNED_OUT = 4401  # the account or the credential no longer signs in: do not reconnect, sign in again
CLOSE_RECONNECT = 4205  # the account changed what it may see: reconnect now, without since/epoch

# The handshake headers the protocol reads (cookies and tokens are aiohttp's business, not its).
HANDSHAKE_HEADERS = ("Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                     "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol", "Origin")
# websockets logs every connection's open and close at INFO; aiohttp's access log already has the upgrade.
protocol_log = logging.getLogger("lantern.broadcast.ws.protocol")
protocol_log.setLevel(logging.WARNING)


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
    """One upgraded ticker connection: the hub's :class:`~broadcast.hub.Sink` and the socket's only writer.

    aiohttp's request handler feeds it what the client sends (``feed_data`` /
    ``feed_eof``: the parser interface of ``RequestHandler.set_parser``).
    """

    __slots__ = ("_close_timer", "_fragments", "conn", "ended", "hub", "open", "protocol", "transport")

    def __init__(self, transport: asyncio.Transport, protocol: ServerProtocol, hub: TickerHub) -> None:
        self.transport, self.protocol, self.hub = transport, protocol, hub
        self.conn: Connection | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fragments: list[bytes] | None = None  # a text message arriving in several frames
        self._close_timer: asyncio.TimerHandle | None = None
        # The protocol's state is OPEN: kept in step after every protocol call, read on every fan-out write.
        self.open = protocol.state is State.OPEN

    # -- Sink: what the hub writes -------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write a serialised frame; nothing once the close handshake has begun (RFC 6455 5.5.1)."""
        if self.open:
            self.transport.write(data)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return not self.open or self.transport.is_closing()

    def abort(self) -> None:
        self.transport.abort()

    # -- closing --------------------------------------------------------------------
    def close(self, code: int, reason: str) -> None:
        """Stop writing to it at once and start the close handshake with ``code``; the handler ends with it."""
        if self.conn is not None:
            self.hub.disconnect(self.conn)
        if self.protocol.state is State.OPEN:
            # A close frame carries at most 123 bytes of reason (RFC 6455 5.5).
            self.protocol.send_close(code, reason.encode()[:120].decode(errors="ignore"))
            self._flush()

    # -- parser: what the client sends ----------------------------------------------
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):  # after an OPEN start, the protocol only yields frames
                self._received(event)
        self._flush()
        return False, b""

    def feed_eof(self) -> None:
        """The TCP connection is gone (aiohttp's ``connection_lost``)."""
        self.protocol.receive_eof()
        self.open = False
        if self._close_timer is not None:
            self._close_timer.cancel()
        if not self.ended.done():
            self.ended.set_result(None)

    def _received(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT:
            if frame.fin:
                self._text(bytes(frame.data))
            else:
                self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), None
                self._text(data)
        elif frame.opcode is Opcode.BINARY:
            self._fragments = None
            self.close(CloseCode.UNSUPPORTED_DATA, "text frames only")
        # Pings are answered, closes echoed, by the protocol itself.

    def _text(self, data: bytes) -> None:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.close(CloseCode.INVALID_DATA, "invalid UTF-8")
            return
        if self.conn is not None and self.protocol.state is State.OPEN:
            self.hub.on_message(self.conn, text)

    def _flush(self) -> None:
        """Write what the protocol has to send; its end-of-stream mark means: close the TCP connection."""
        self.open = self.protocol.state is State.OPEN
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            else:  # the server closes the TCP connection first (RFC 6455 7.1.1)
                self.transport.close()
        if self.protocol.close_expected() and self._close_timer is None and not self.transport.is_closing():
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self.transport.abort)


# Told each opened socket; returns what to call when it ends.
OnOpen = Callable[[TickerSocket], Callable[[], None]]


def handshake_request(request: web.Request) -> Request:
    """The client's opening handshake, as the websockets protocol reads it."""
    headers = Headers()
    for name in HANDSHAKE_HEADERS:
        for value in request.headers.getall(name, ()):
            headers[name] = value
    return Request(request.path, headers)


async def upgrade(request: web.Request, protocol: ServerProtocol) -> web.StreamResponse:
    """Answer the opening handshake as ``protocol`` decides: 101, or the HTTP error it gives."""
    handshake = protocol.accept(handshake_request(request))
    if handshake.status_code != 101:
        return web.Response(status=handshake.status_code, body=handshake.body, content_type="text/plain",
                            headers={k: v for k, v in handshake.headers.raw_items() if k in ("Upgrade", "Allow")})
    response = web.StreamResponse(status=101, reason=handshake.reason_phrase,
                                  headers=dict(handshake.headers.raw_items()))
    response.force_close()
    await response.prepare(request)
    return response


async def serve_ticker(request: web.Request, hub: TickerHub, viewer: Viewer, *,
                       on_open: OnOpen | None = None) -> web.StreamResponse:
    """Upgrade ``request`` and pump it until the client leaves (or the hub drops it, or it is closed)."""
    protocol = ServerProtocol(state=State.OPEN, max_size=MAX_CLIENT_MESSAGE, logger=protocol_log)
    response = await upgrade(request, protocol)
    transport = request.transport
    if response.status != 101 or transport is None or transport.is_closing():
        return response
    since, epoch = parse_resume(request.query)
    socket = TickerSocket(transport, protocol, hub)
    socket.conn = hub.connect(viewer, socket, since, epoch)
    ended = on_open(socket) if on_open is not None else None
    handler: Any = request.protocol  # set_parser is typed for aiohttp's own reader; it only calls feed_data/eof
    handler.keep_alive(False)
    handler.set_parser(socket)  # from here aiohttp hands every byte it reads to the socket
    try:
        await socket.ended
    finally:
        hub.disconnect(socket.conn)
        if ended is not None:
            ended()
    return response
