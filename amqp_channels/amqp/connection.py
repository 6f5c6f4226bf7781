"""A connection to RabbitMQ: ``connect()``, channel numbers, and how the connection ends.

Why it exists: it owns the socket (through ``AMQPProtocol``) and guarantees that every way a
connection can end - our ``close()``, a Connection.Close from the broker, a lost socket,
missed heartbeats - fails everything pending with ``ConnectionClosed``, closes the socket and
resolves ``closed``. ``closed`` gets ``None`` after our own close and the ``ConnectionClosed``
otherwise; its exception is marked retrieved, so nobody has to await it.

``connect()`` bounds the whole handshake by ``timeout`` and closes the socket on any failure
or cancellation, so no socket (and no ResourceWarning) is ever left behind.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from typing import Any

from pamqp import commands

from .channel import Channel
from .errors import AMQPError, ConnectionClosed, renew
from .frames import decode_method, encode_method
from .handshake import CHANNEL_MAX, FRAME_MAX, handshake
from .heartbeat import HeartbeatMonitor
from .protocol import AMQPProtocol
from .rpc import RpcSlot
from .url import ConnectionParams, parse_url

__all__ = ["Connection", "connect"]

LOGGER = logging.getLogger(__name__)


class Connection:
    """An open AMQP connection; make one with ``await connect(url)``."""

    def __init__(self, protocol: AMQPProtocol, params: ConnectionParams) -> None:
        self.loop = protocol.loop
        self.protocol = protocol
        self.params = params
        # The broker's reason while it blocks this connection's publishes (an alarm).
        self.blocked: str | None = None
        self.frame_max = FRAME_MAX
        self.channel_max = CHANNEL_MAX
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self._rpc = RpcSlot(self.loop)
        self._channels: dict[int, Channel] = {}
        self._next_id = 1
        self._error: ConnectionClosed | None = None
        self._closing_by_us = False
        self._heartbeat: HeartbeatMonitor | None = None
        protocol.handlers[0] = self
        protocol.on_lost = self._on_lost

    @property
    def is_closed(self) -> bool:
        """True once the connection is closing or closed."""
        return self._error is not None

    async def _handshake(self, name: str) -> None:
        async def request(frame: bytes, expect: Any) -> Any:
            return await self._rpc.request(self.protocol.write, frame, expect)

        tuning = await handshake(request, self.protocol.write, self.params, name)
        self.frame_max, self.channel_max = tuning.frame_max, tuning.channel_max
        self._heartbeat = HeartbeatMonitor(self.protocol, tuning.heartbeat, self._on_silence)
        self._heartbeat.start()

    # -- channels ---------------------------------------------------------------------------

    async def channel(self, *, publisher_confirms: bool = False,
                      timeout: float = 10.0) -> Channel:
        """Open a channel (with publisher confirms if asked), bounded by ``timeout``."""
        if self._error is not None:
            raise renew(self._error)
        channel = Channel(self, self._allocate_id())
        self._channels[channel.channel_id] = channel
        self.protocol.handlers[channel.channel_id] = channel
        await channel._open(publisher_confirms, timeout)
        return channel

    def _allocate_id(self) -> int:
        for _ in range(self.channel_max):
            channel_id, self._next_id = self._next_id, self._next_id % self.channel_max + 1
            if channel_id not in self._channels:
                return channel_id
        raise AMQPError(f"all {self.channel_max} channel numbers are in use")

    def _release_channel(self, channel_id: int, channel: Channel) -> None:
        if self._channels.get(channel_id) is channel:
            del self._channels[channel_id]
            self.protocol.handlers.pop(channel_id, None)

    # -- channel 0 frames -------------------------------------------------------------------

    def on_method(self, buf: bytes, start: int, end: int) -> None:
        method = decode_method(buf, start, end)
        if isinstance(method, commands.Connection.Close):
            self._on_broker_close(method)
        elif isinstance(method, commands.Connection.Blocked):
            self.blocked = str(method.reason or "no reason given")
            LOGGER.warning("RabbitMQ at %s blocks publishing: %s", self.params.address,
                           self.blocked)
            self.protocol.set_blocked(True)
        elif isinstance(method, commands.Connection.Unblocked):
            LOGGER.info("RabbitMQ at %s unblocked publishing", self.params.address)
            self.blocked = None
            self.protocol.set_blocked(False)
        elif not self._rpc.deliver(method):
            LOGGER.debug("connection: ignored unexpected %s", method.name)

    def on_header(self, buf: bytes, start: int, end: int) -> None:
        """Content is never sent on channel 0."""

    def on_body(self, buf: bytes, start: int, end: int) -> None:
        """Content is never sent on channel 0."""

    # -- ending -----------------------------------------------------------------------------

    async def close(self, timeout: float = 5.0) -> None:
        """Close the connection: Connection.Close/CloseOk bounded by ``timeout``, then the
        socket. Idempotent."""
        if self._error is not None:
            await self.protocol.wait_closed(timeout)
            return
        self._closing_by_us = True
        self._fail_all(ConnectionClosed(200, "connection closed by the client"))
        frame = encode_method(0, commands.Connection.Close(
            reply_code=200, reply_text="Normal shutdown", class_id=0, method_id=0))
        try:
            async with asyncio.timeout(timeout):
                await self._rpc.request(self.protocol.write, frame, commands.Connection.CloseOk)
        except (TimeoutError, AMQPError):
            pass  # the socket is closed below either way
        finally:
            self.protocol.close()
            self._resolve(None)
        await self.protocol.wait_closed(timeout)

    def _on_broker_close(self, method: commands.Connection.Close) -> None:
        error = ConnectionClosed(int(method.reply_code or 0), method.reply_text or "")
        LOGGER.warning("RabbitMQ at %s closed the connection: %s", self.params.address, error)
        self.protocol.write(encode_method(0, commands.Connection.CloseOk()))
        self._fail_all(error)
        self.protocol.close()
        self._resolve(error)

    def _on_silence(self, seconds: float) -> None:
        error = ConnectionClosed(0, f"no data from {self.params.address} for {seconds:.0f}s "
                                    "(missed heartbeats)")
        LOGGER.warning("%s", error)
        self._fail_all(error)
        self.protocol.abort()
        self._resolve(error)

    def _on_lost(self, exc: Exception | None) -> None:
        if self._error is None:
            reason = exc or "closed by the peer"
            error = ConnectionClosed(0, f"connection to {self.params.address} lost: {reason}")
            self._fail_all(error)
            self._resolve(error)
        else:
            self._resolve(None if self._closing_by_us else self._error)

    def _fail_all(self, error: ConnectionClosed) -> None:
        if self._error is None:
            self._error = error
        if self._heartbeat is not None:
            self._heartbeat.stop()
        for channel in list(self._channels.values()):
            channel._fail(error)
        self._rpc.fail(renew(error))
        self.protocol.wake_writers()

    def _resolve(self, error: ConnectionClosed | None) -> None:
        if self.closed.done():
            return
        if error is None:
            self.closed.set_result(None)
        else:
            self.closed.set_exception(error)
            self.closed.exception()  # mark retrieved: awaiting ``closed`` is optional


async def connect(url: str, *, ssl: ssl_module.SSLContext | None = None,
                  timeout: float = 10.0, name: str = "", heartbeat: int = 30) -> Connection:
    """Connect and log in to the broker at ``url`` (``amqp://`` or ``amqps://``).

    The socket connect and the whole handshake are bounded by ``timeout``. Raises
    ``ConnectionClosed`` (unreachable host, refused login, unknown vhost) or ``TimeoutError``.
    """
    params = parse_url(url, heartbeat=heartbeat)
    if params.tls and ssl is None:
        ssl = ssl_module.create_default_context()
    loop = asyncio.get_running_loop()
    protocol = AMQPProtocol(loop)
    try:
        async with asyncio.timeout(timeout):
            try:
                await loop.create_connection(lambda: protocol, params.host, params.port,
                                             ssl=ssl)
            except OSError as exc:
                raise ConnectionClosed(0, f"cannot connect to {params.address}: {exc}") from exc
            connection = Connection(protocol, params)
            await connection._handshake(name)
    except TimeoutError as exc:
        await _discard(protocol)
        raise TimeoutError(f"AMQP connection to {params.address} was not established "
                           f"within {timeout}s") from exc
    except BaseException:
        await _discard(protocol)
        raise
    return connection


async def _discard(protocol: AMQPProtocol) -> None:
    """Close the socket of a failed connection attempt and wait (briefly) until it is closed."""
    protocol.abort()
    await protocol.wait_closed(1.0)
