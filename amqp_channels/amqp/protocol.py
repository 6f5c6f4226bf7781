"""The asyncio protocol: splits the byte stream into frames and routes them to channels.

Why a bare ``asyncio.BufferedProtocol``: frames are parsed inline as bytes arrive and handed
to the owning channel synchronously, so a delivery costs no task, queue or extra wake-up.
Reads land in one buffer allocated once: a plain ``Protocol`` gets a fresh 256 KiB ``recv``
buffer per read, which glibc maps and unmaps (three system calls per read, every message).
Writes go straight to ``transport.write``.

It also owns write flow control: ``writable`` is false while the transport asked us to pause
or the broker sent Connection.Blocked; publishers await ``wait_writable()``. ``lost`` resolves
(always with ``None``) once the socket is closed, so owners can await a closed socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from .frames import FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD, HEAD

__all__ = ["AMQPProtocol", "FrameHandler"]


class FrameHandler(Protocol):
    """Receives the frames of one channel number; the payload is ``buf[start:end]``."""

    def on_method(self, buf: bytes, start: int, end: int) -> None: ...

    def on_header(self, buf: bytes, start: int, end: int) -> None: ...

    def on_body(self, buf: bytes, start: int, end: int) -> None: ...


def _ignore_lost(exc: Exception | None) -> None:
    """Placeholder until a connection takes ownership of the protocol."""


#: Bytes one read may take; a bigger frame is gathered over several reads.
READ_BUFFER_SIZE = 256 * 1024


class AMQPProtocol(asyncio.BufferedProtocol):
    """One AMQP socket: frame splitting, routing by channel number, write flow control."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.handlers: dict[int, FrameHandler] = {}
        self.on_lost: Callable[[Exception | None], None] = _ignore_lost
        self.lost: asyncio.Future[None] = loop.create_future()
        self.rx_seen = False  # set on every read; the heartbeat monitor clears it
        self.writable = True
        self.stopped = False  # no more frames are routed once set
        self._paused = False
        self._blocked = False
        self._writable_event = asyncio.Event()
        self._writable_event.set()
        self._rest = b""
        self._abort_reason: Exception | None = None
        self._read_buffer = memoryview(bytearray(READ_BUFFER_SIZE))

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's TCP transport (uvicorn's default loop)
        # has the stream transport's methods without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # A copy of just what arrived: frames and bodies handed on must not change under
        # their holders when the next read reuses the buffer.
        self.data_received(bytes(self._read_buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Split ``data`` (after any partial frame kept from before) into frames."""
        self.rx_seen = True
        buf = self._rest + data if self._rest else data
        total = len(buf)
        pos = 0
        handlers = self.handlers
        unpack = HEAD.unpack_from
        while total - pos >= 8 and not self.stopped:
            kind, channel_id, size = unpack(buf, pos)
            start = pos + 7
            end = start + size
            if end >= total:
                break
            if buf[end] != FRAME_END:
                self._rest = b""
                reason = f"malformed frame: no frame-end octet after a type {kind} frame"
                self.abort(ValueError(reason))
                return
            pos = end + 1
            handler = handlers.get(channel_id)
            if handler is None:
                continue  # a channel we no longer track; heartbeats (type 8) land here too
            if kind == FRAME_METHOD:
                handler.on_method(buf, start, end)
            elif kind == FRAME_HEADER:
                handler.on_header(buf, start, end)
            elif kind == FRAME_BODY:
                handler.on_body(buf, start, end)
        self._rest = buf[pos:] if pos < total else b""

    def eof_received(self) -> bool | None:
        return False  # close our side too: AMQP has no half-open state

    def connection_lost(self, exc: Exception | None) -> None:
        self.stopped = True
        self.wake_writers()
        self.on_lost(exc or self._abort_reason)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True
        self._update_writable()

    def resume_writing(self) -> None:
        self._paused = False
        self._update_writable()

    # -- used by the connection and channels ------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send bytes now (the transport buffers what the socket does not take)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def set_blocked(self, blocked: bool) -> None:
        """Connection.Blocked / Unblocked from the broker."""
        self._blocked = blocked
        self._update_writable()

    async def wait_writable(self) -> None:
        """Return once writes may proceed, or once ``wake_writers`` is called on closing.

        Callers loop on ``writable`` and check for closure after each return.
        """
        await self._writable_event.wait()

    def wake_writers(self) -> None:
        """Release every publisher waiting for flow control (they re-check for closure)."""
        self._writable_event.set()

    def close(self) -> None:
        """Stop routing frames and close the socket after flushing what is buffered."""
        self.stopped = True
        self.wake_writers()
        if self.transport is not None:
            self.transport.close()

    def abort(self, exc: Exception | None = None) -> None:
        """Close the socket at once, dropping buffered writes; ``exc`` is the reason reported."""
        self._abort_reason = exc
        self.stopped = True
        self.wake_writers()
        if self.transport is not None:
            self.transport.abort()
        elif not self.lost.done():
            self.lost.set_result(None)

    async def wait_closed(self, timeout: float) -> None:
        """Wait (bounded) until the socket is closed."""
        if self.transport is None and not self.lost.done():
            self.lost.set_result(None)
        await asyncio.wait((self.lost,), timeout=timeout)

    def _update_writable(self) -> None:
        self.writable = not (self._paused or self._blocked)
        if self.writable:
            self._writable_event.set()
        else:
            self._writable_event.clear()
