"""An AMQP channel: publishing with confirms, consuming, acking, and its own lifecycle.

Why it looks like this: ``basic_publish``, the confirm handling in ``on_method`` and
``basic_ack`` are the hot path, so they use the hand-rolled frames of ``frames.py``, cache the
Basic.Publish frame per destination and the encoding of the last ``Properties`` object, and do
one ``transport.write`` per call. Everything else is a serialized, bounded RPC (``_call``).

Closing: a Channel.Close from the broker fails the pending RPC with the matching
``ChannelClosed`` subclass and every pending confirm, then we answer CloseOk; the connection
stays usable. The channel number is released once both sides agree the channel is closed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pamqp import commands

from .confirms import Confirms
from .delivery import Callback, Inbound, ReturnCallback, Returned
from .errors import AMQPError, ChannelClosed, PublishNacked, channel_closed, renew
from .frames import (
    BASIC_ACK,
    BASIC_DELIVER,
    BASIC_NACK,
    CONFIRM,
    METHOD_ID,
    ack_frame,
    decode_method,
    encode_method,
    nack_frame,
    publish_frames,
    publish_method,
    reject_frame,
)
from .properties import Properties, encode_properties
from .rpc import RpcSlot
from .topology import Topology

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Channel"]

LOGGER = logging.getLogger(__name__)

_NO_PROPERTIES = b"\x00\x00"
_METHOD_CACHE_SIZE = 1024


class Channel(Topology):
    """One AMQP channel of a ``Connection``; get it from ``await connection.channel()``."""

    def __init__(self, connection: Connection, channel_id: int) -> None:
        self.connection = connection
        self.channel_id = channel_id
        self._loop = connection.loop
        self._protocol = connection.protocol
        self._frame_max = connection.frame_max
        self._rpc = RpcSlot(self._loop)
        self._lock = asyncio.Lock()
        self._inbound = Inbound(self)
        self._confirms: Confirms | None = None
        self._closed: AMQPError | None = None
        self._methods: dict[tuple[str, str, bool], bytes] = {}
        self._last_properties: Properties | None = None
        self._last_encoded = _NO_PROPERTIES
        # Called with each message published ``mandatory`` that the broker could not route.
        # On a confirm channel it comes before that publish's ack; the publish still succeeds.
        self.on_return: ReturnCallback | None = None

    @property
    def is_closed(self) -> bool:
        """True once the channel (or its connection) is closed."""
        return self._closed is not None

    # -- lifecycle --------------------------------------------------------------------------

    async def _open(self, publisher_confirms: bool, timeout: float) -> None:
        try:
            await self._call(commands.Channel.Open(), commands.Channel.OpenOk, timeout)
            if publisher_confirms:
                await self._call(commands.Confirm.Select(), commands.Confirm.SelectOk, timeout)
                self._confirms = Confirms(self._loop)
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Give up on a channel whose opening failed; CloseOk will release its number."""
        if self._closed is not None:
            return
        self._fail(ChannelClosed(0, "channel opening did not complete"))
        self._protocol.write(encode_method(self.channel_id, commands.Channel.Close(
            reply_code=200, reply_text="open abandoned", class_id=0, method_id=0)))

    async def close(self, timeout: float = 10.0) -> None:
        """Close the channel (bounded by ``timeout``); idempotent."""
        if self._closed is not None:
            return
        self._fail(ChannelClosed(200, "channel closed by the client"))
        frame = encode_method(self.channel_id, commands.Channel.Close(
            reply_code=200, class_id=0, method_id=0))
        try:
            async with asyncio.timeout(timeout), self._lock:
                await self._rpc.request(self._protocol.write, frame, commands.Channel.CloseOk)
        except AMQPError:
            pass  # the broker closed it first, or the connection is gone: closed either way
        except TimeoutError:
            # The number stays reserved: reopening it before CloseOk would be a protocol error.
            LOGGER.warning("channel %d: no CloseOk within %ss", self.channel_id, timeout)
            return
        self._release()

    def _fail(self, exc: AMQPError) -> None:
        """Mark closed and fail everything waiting on this channel."""
        if self._closed is None:
            self._closed = exc
        self._rpc.fail(renew(exc))
        if self._confirms is not None:
            self._confirms.fail(exc)
        self._inbound.consumers.clear()
        self._inbound.on_cancel.clear()

    def _release(self) -> None:
        self.connection._release_channel(self.channel_id, self)

    def _raise_if_closed(self) -> None:
        if self._closed is not None:
            raise renew(self._closed)

    async def _call(self, method: Any, expect: Any, timeout: float,
                    on_reply: Any = None) -> Any:
        """One synchronous request and its reply, serialized and bounded by ``timeout``."""
        frame = encode_method(self.channel_id, method)
        async with asyncio.timeout(timeout), self._lock:
            self._raise_if_closed()
            return await self._rpc.request(self._protocol.write, frame, expect, on_reply)

    def _cast(self, method: Any) -> None:
        self._raise_if_closed()
        self._protocol.write(encode_method(self.channel_id, method))

    async def _send_unanswered(self, method: Any, expect: Any, timeout: float) -> None:
        # Under the lock, so the dropped reply queues up behind any abandoned ones in order.
        frame = encode_method(self.channel_id, method)
        async with asyncio.timeout(timeout), self._lock:
            self._raise_if_closed()
            self._rpc.skip(expect)
            self._protocol.write(frame)

    # -- frames from the protocol -----------------------------------------------------------

    def on_method(self, buf: bytes, start: int, end: int) -> None:
        method_id = METHOD_ID.unpack_from(buf, start)[0]
        if method_id == BASIC_DELIVER:
            self._inbound.on_deliver(buf, start + 4)
        elif method_id == BASIC_ACK or method_id == BASIC_NACK:
            tag, bits = CONFIRM.unpack_from(buf, start + 4)
            if self._confirms is not None:
                self._confirms.settle(tag, bool(bits & 1), method_id == BASIC_ACK)
        else:
            self._on_other_method(decode_method(buf, start, end))

    def on_header(self, buf: bytes, start: int, end: int) -> None:
        self._inbound.on_header(buf, start, end)

    def on_body(self, buf: bytes, start: int, end: int) -> None:
        self._inbound.on_body(buf, start, end)

    def _on_other_method(self, method: Any) -> None:
        if isinstance(method, commands.Channel.Close):
            self._on_broker_close(method)
        elif isinstance(method, commands.Channel.CloseOk):
            # Also the late answer to a close() or an abandoned open that timed out: either
            # way the broker is done with this number now.
            self._rpc.deliver(method)
            self._release()
        elif isinstance(method, commands.Basic.Return):
            LOGGER.debug("channel %d: message to %r/%r returned: %s %s", self.channel_id,
                         method.exchange, method.routing_key, method.reply_code,
                         method.reply_text)
            self._inbound.on_return(Returned(str(method.exchange), str(method.routing_key),
                                             int(method.reply_code or 0),
                                             str(method.reply_text or "")))
        elif isinstance(method, commands.Basic.Cancel):
            tag = str(method.consumer_tag)
            self._inbound.consumers.pop(tag, None)
            on_cancel = self._inbound.on_cancel.pop(tag, None)
            if on_cancel is None:
                LOGGER.warning("channel %d: the broker cancelled consumer %r (queue "
                               "deleted?)", self.channel_id, tag)
            else:
                on_cancel()
        elif isinstance(method, commands.Channel.Flow):
            self._protocol.write(encode_method(
                self.channel_id, commands.Channel.FlowOk(active=method.active)))
        elif not self._rpc.deliver(method):
            LOGGER.debug("channel %d: ignored unexpected %s", self.channel_id, method.name)

    def _on_broker_close(self, method: commands.Channel.Close) -> None:
        text = method.reply_text or ""
        LOGGER.info("channel %d closed by the broker: %s %s", self.channel_id,
                    method.reply_code, text)
        self._fail(channel_closed(int(method.reply_code or 0), text))
        self._protocol.write(encode_method(self.channel_id, commands.Channel.CloseOk()))
        self._release()

    # -- publishing -------------------------------------------------------------------------

    async def basic_publish(self, body: bytes, *, exchange: str = "", routing_key: str,
                            properties: Properties | bytes | None = None,
                            mandatory: bool = False, deadline: float = math.inf) -> None:
        """Publish ``body``; on a confirm channel, return once the broker confirms it.

        ``properties`` may be given pre-encoded (``encode_properties``): callers that
        publish the same properties over and over skip the encoding.

        Raises ``PublishNacked`` when the broker refuses it, and ``ChannelClosed`` or
        ``ConnectionClosed`` when the channel closes before the confirm arrives.
        ``deadline`` (loop time) bounds the wait for flow control and for the confirm:
        past it, ``TimeoutError`` (the message may still have reached the broker).
        """
        if self._closed is not None:
            raise renew(self._closed)
        protocol = self._protocol
        if not protocol.writable:  # transport buffer full, or Connection.Blocked
            async with asyncio.timeout_at(None if deadline == math.inf else deadline):
                while not protocol.writable:
                    await protocol.wait_writable()
                    self._raise_if_closed()
        key = (exchange, routing_key, mandatory)
        method = self._methods.get(key)
        if method is None:
            method = self._cache_method(key)
        if properties is None:
            encoded = _NO_PROPERTIES
        elif isinstance(properties, bytes):
            encoded = properties
        elif properties is self._last_properties:
            encoded = self._last_encoded
        else:
            encoded = self._encode_properties(properties)
        data = publish_frames(self.channel_id, method, encoded, body, self._frame_max)
        confirms = self._confirms
        if confirms is None:
            protocol.write(data)
            return
        future = confirms.track(deadline)
        protocol.write(data)
        if not await future:
            raise PublishNacked(exchange, routing_key)

    def _cache_method(self, key: tuple[str, str, bool]) -> bytes:
        if len(self._methods) >= _METHOD_CACHE_SIZE:
            self._methods.clear()
        method = self._methods[key] = publish_method(self.channel_id, *key)
        return method

    def _encode_properties(self, properties: Properties) -> bytes:
        encoded = encode_properties(properties)
        # Cache by identity only when nothing inside can be mutated behind our back.
        if properties.headers is None:
            self._last_properties, self._last_encoded = properties, encoded
        return encoded

    # -- consuming --------------------------------------------------------------------------

    async def basic_qos(self, prefetch_count: int, *, timeout: float = 10.0) -> None:
        """Limit unacknowledged deliveries per consumer on this channel."""
        await self._call(commands.Basic.Qos(prefetch_count=prefetch_count),
                         commands.Basic.QosOk, timeout)

    async def basic_consume(self, queue: str, callback: Callback, *, no_ack: bool = False,
                            exclusive: bool = False, consumer_tag: str = "",
                            timeout: float = 10.0,
                            on_cancel: Callable[[], None] | None = None) -> str:
        """Start consuming ``queue``; return the consumer tag.

        ``callback`` is a plain function, called synchronously for each delivery, in order.
        ``on_cancel`` is called if the broker ends the consumer (its queue was deleted).
        """
        def register(ok: commands.Basic.ConsumeOk) -> None:
            self._inbound.consumers[str(ok.consumer_tag)] = callback
            if on_cancel is not None:
                self._inbound.on_cancel[str(ok.consumer_tag)] = on_cancel

        method = commands.Basic.Consume(queue=queue, consumer_tag=consumer_tag, no_ack=no_ack,
                                        exclusive=exclusive)
        ok = await self._call(method, commands.Basic.ConsumeOk, timeout, register)
        return str(ok.consumer_tag)

    async def basic_cancel(self, consumer_tag: str, *, timeout: float = 10.0) -> None:
        """Stop the consumer; deliveries already received are still dispatched."""
        def unregister(ok: commands.Basic.CancelOk) -> None:
            self._inbound.consumers.pop(consumer_tag, None)
            self._inbound.on_cancel.pop(consumer_tag, None)

        await self._call(commands.Basic.Cancel(consumer_tag=consumer_tag),
                         commands.Basic.CancelOk, timeout, unregister)

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        """Acknowledge a delivery (or all up to it with ``multiple``)."""
        self._raise_if_closed()
        self._protocol.write(ack_frame(self.channel_id, delivery_tag, multiple))

    def basic_ack_each(self, delivery_tags: list[int]) -> None:
        """Acknowledge several deliveries one by one, in a single write."""
        self._raise_if_closed()
        channel_id = self.channel_id
        self._protocol.write(b"".join(ack_frame(channel_id, tag, False) for tag in delivery_tags))

    def basic_nack(self, delivery_tag: int, multiple: bool = False,
                   requeue: bool = True) -> None:
        """Refuse a delivery (or all up to it with ``multiple``)."""
        self._raise_if_closed()
        self._protocol.write(nack_frame(self.channel_id, delivery_tag, multiple, requeue))

    def basic_reject(self, delivery_tag: int, requeue: bool) -> None:
        """Refuse one delivery."""
        self._raise_if_closed()
        self._protocol.write(reject_frame(self.channel_id, delivery_tag, requeue))
