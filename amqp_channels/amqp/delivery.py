"""Deliveries: reassembling content frames into messages and handing them to consumers.

Why it exists: a message arrives as Basic.Deliver, a content header and zero or more body
frames, possibly split across reads. ``Inbound`` keeps that per-channel state and, when a
message is complete, calls the consumer's plain callback synchronously, in wire order. A
callback that raises is logged and never disturbs the connection.

Content after a Basic.Return (an unroutable mandatory message) is reassembled and handed to
the channel's ``on_return`` callback, if any, as a ``Returned``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .frames import CONTENT_HEADER, parse_deliver
from .properties import EMPTY, Properties, decode_properties

if TYPE_CHECKING:
    from .channel import Channel

__all__ = ["Callback", "Delivery", "Inbound", "ReturnCallback", "Returned"]

LOGGER = logging.getLogger(__name__)
DECODED_CACHE_SIZE = 1024


@dataclass(slots=True)
class Delivery:
    """One message delivered to a consumer."""

    body: bytes
    properties: Properties
    delivery_tag: int
    redelivered: bool
    exchange: str
    routing_key: str
    consumer_tag: str
    channel: Channel


@dataclass(slots=True)
class Returned:
    """A mandatory message the broker could not route, as Basic.Return reported it."""

    exchange: str
    routing_key: str
    reply_code: int
    reply_text: str
    properties: Properties = EMPTY
    body: bytes = b""


Callback = Callable[[Delivery], None]
ReturnCallback = Callable[[Returned], None]
_Deliver = tuple[str, int, bool, str, str]


class Inbound:
    """Content reassembly and consumer dispatch for one channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.consumers: dict[str, Callback] = {}
        # Told when the broker cancels the consumer (its queue was deleted, say).
        self.on_cancel: dict[str, Callable[[], None]] = {}
        self._deliver: _Deliver | None = None
        self._returned: Returned | None = None  # set between Basic.Return and its content
        self._properties = EMPTY
        self._size = 0
        self._received = 0
        self._parts: list[bytes] = []
        self._decoded: dict[tuple[int, bytes], Properties] = {}

    def on_deliver(self, buf: bytes, start: int) -> None:
        """Basic.Deliver whose arguments begin at ``buf[start]``."""
        self._deliver = parse_deliver(buf, start)

    def on_return(self, returned: Returned) -> None:
        """Basic.Return: the content that follows completes ``returned``."""
        self._deliver = None
        self._returned = returned

    def on_header(self, buf: bytes, start: int, end: int) -> None:
        _, _, size, flags = CONTENT_HEADER.unpack_from(buf, start)
        self._properties = self._decode(flags, buf[start + 14 : end]) if flags else EMPTY
        self._size = size
        self._received = 0
        self._parts = []
        if not size:
            self._complete(b"")

    def _decode(self, flags: int, raw: bytes) -> Properties:
        # A consumer sees the same few property blocks over and over (one per sending
        # target): decoding a header table costs more than the rest of a delivery, so
        # decoded blocks are kept. Properties are frozen; their header dicts are shared
        # and must be treated as read-only.
        key = (flags, raw)
        properties = self._decoded.get(key)
        if properties is None:
            if len(self._decoded) >= DECODED_CACHE_SIZE:
                self._decoded.clear()
            properties = self._decoded[key] = decode_properties(flags, raw)
        return properties

    def on_body(self, buf: bytes, start: int, end: int) -> None:
        if not self._received and end - start == self._size:
            self._complete(buf[start:end])  # the common case: the whole body in one frame
            return
        self._parts.append(buf[start:end])
        self._received += end - start
        if self._received >= self._size:
            body = b"".join(self._parts)
            self._parts = []
            self._complete(body)

    def _complete(self, body: bytes) -> None:
        deliver, self._deliver = self._deliver, None
        if deliver is None:
            returned, self._returned = self._returned, None
            if returned is not None:
                self._report_return(returned, body)
            return
        consumer_tag, delivery_tag, redelivered, exchange, routing_key = deliver
        callback = self.consumers.get(consumer_tag)
        if callback is None:
            if self.channel.is_closed:
                return  # in flight while we closed; the broker requeues it
            LOGGER.warning("dropped delivery %d for unknown consumer %r on channel %d",
                           delivery_tag, consumer_tag, self.channel.channel_id)
            return
        delivery = Delivery(body, self._properties, delivery_tag, redelivered, exchange,
                            routing_key, consumer_tag, self.channel)
        try:
            callback(delivery)
        except Exception:
            LOGGER.exception("consumer %r callback raised on delivery %d",
                             consumer_tag, delivery_tag)

    def _report_return(self, returned: Returned, body: bytes) -> None:
        returned.properties = self._properties
        returned.body = body
        callback = self.channel.on_return
        if callback is None:
            return
        try:
            callback(returned)
        except Exception:
            LOGGER.exception("on_return callback raised for a message to %r/%r",
                             returned.exchange, returned.routing_key)
