"""Frame encoding and decoding: pamqp for the rare methods, ``struct`` for the hot ones.

Why hand-rolled: publishing, confirming, delivering and acking run once per message; building
pamqp objects for them dominates client CPU. Here each hot frame is one ``struct`` call on
precompiled formats, and a publish becomes a single ``bytes`` for one ``transport.write``.
Everything else (handshake, declares, closes) goes through ``pamqp.frame``.

Offsets passed around are into the connection's receive buffer: a frame's payload is
``buf[start:end]`` and ``buf[end]`` is the frame-end octet.
"""

from __future__ import annotations

import struct
from typing import Any

from pamqp import frame as pamqp_frame

__all__ = [
    "FRAME_BODY",
    "FRAME_END",
    "FRAME_HEADER",
    "FRAME_HEARTBEAT",
    "FRAME_METHOD",
    "HEAD",
    "HEARTBEAT",
    "ack_frame",
    "decode_method",
    "encode_method",
    "nack_frame",
    "parse_deliver",
    "publish_frames",
    "publish_method",
    "reject_frame",
]

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
HEARTBEAT = bytes((FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END))

# Method ids as (class << 16 | method), the first four payload bytes read as one integer.
BASIC_DELIVER = 60 << 16 | 60
BASIC_ACK = 60 << 16 | 80
BASIC_NACK = 60 << 16 | 120

HEAD = struct.Struct(">BHI")  # frame type, channel, payload size
METHOD_ID = struct.Struct(">I")
CONTENT_HEADER = struct.Struct(">HHQH")  # class, weight, body size, property flags
CONFIRM = struct.Struct(">QB")  # delivery tag, bits (Basic.Ack and Basic.Nack)
_DELIVERY_TAG = struct.Struct(">QB")
_ACK = struct.Struct(">BHIIQBB")
_PUBLISH_HEAD = struct.Struct(">BHIIH")
_HEADER_HEAD = struct.Struct(">BHIHHQ")
_END = bytes((FRAME_END,))


def encode_method(channel_id: int, method: Any) -> bytes:
    """A non-hot method frame, marshalled by pamqp."""
    return pamqp_frame.marshal(method, channel_id)


def decode_method(buf: bytes, start: int, end: int) -> Any:
    """The pamqp command object of the method frame whose payload is ``buf[start:end]``."""
    return pamqp_frame.unmarshal(bytes(buf[start - HEAD.size : end + 1]))[2]


def _ack_like(channel_id: int, method_id: int, tag: int, bits: int) -> bytes:
    return _ACK.pack(FRAME_METHOD, channel_id, 13, method_id, tag, bits, FRAME_END)


def ack_frame(channel_id: int, delivery_tag: int, multiple: bool) -> bytes:
    """Basic.Ack for a delivery."""
    return _ack_like(channel_id, BASIC_ACK, delivery_tag, multiple)


def nack_frame(channel_id: int, delivery_tag: int, multiple: bool, requeue: bool) -> bytes:
    """Basic.Nack for a delivery."""
    return _ack_like(channel_id, BASIC_NACK, delivery_tag, multiple | requeue << 1)


def reject_frame(channel_id: int, delivery_tag: int, requeue: bool) -> bytes:
    """Basic.Reject for a delivery."""
    return _ack_like(channel_id, 60 << 16 | 90, delivery_tag, requeue)


def publish_method(channel_id: int, exchange: str, routing_key: str, mandatory: bool) -> bytes:
    """The Basic.Publish method frame; callers cache it per destination."""
    ex, rk = exchange.encode(), routing_key.encode()
    if len(ex) > 255 or len(rk) > 255:
        raise ValueError("exchange and routing_key must encode to at most 255 bytes each")
    size = 4 + 2 + 1 + len(ex) + 1 + len(rk) + 1
    return b"".join((
        _PUBLISH_HEAD.pack(FRAME_METHOD, channel_id, size, 60 << 16 | 40, 0),
        bytes((len(ex),)), ex, bytes((len(rk),)), rk, bytes((mandatory, FRAME_END)),
    ))


def publish_frames(channel_id: int, method: bytes, properties: bytes, body: bytes,
                   frame_max: int) -> bytes:
    """Method, content header and body frames of one publish, joined for a single write."""
    size = len(body)
    header = _HEADER_HEAD.pack(FRAME_HEADER, channel_id, 12 + len(properties), 60, 0, size)
    parts: list[bytes | memoryview] = [method, header, properties, _END]
    chunk = frame_max - 8
    if size <= chunk:
        if size:
            parts += (HEAD.pack(FRAME_BODY, channel_id, size), body, _END)
    else:
        view = memoryview(body)
        for offset in range(0, size, chunk):
            piece = view[offset : offset + chunk]
            parts += (HEAD.pack(FRAME_BODY, channel_id, len(piece)), piece, _END)
    return b"".join(parts)


def parse_deliver(buf: bytes, p: int) -> tuple[str, int, bool, str, str]:
    """Basic.Deliver arguments from ``p`` (just after the method id): consumer tag,
    delivery tag, redelivered, exchange, routing key."""
    end = p + 1 + buf[p]
    consumer_tag = buf[p + 1 : end].decode()
    tag, redelivered = _DELIVERY_TAG.unpack_from(buf, end)
    p = end + 9
    end = p + 1 + buf[p]
    exchange = buf[p + 1 : end].decode()
    p = end
    end = p + 1 + buf[p]
    return consumer_tag, tag, bool(redelivered), exchange, buf[p + 1 : end].decode()
