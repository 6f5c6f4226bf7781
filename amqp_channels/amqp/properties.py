"""Basic message properties and their wire encoding (the content header's property list).

Why our own class rather than pamqp's ``Basic.Properties``: it is a frozen, slotted dataclass,
so decoding a delivery costs one constructor call, a message without properties shares one
``EMPTY`` instance, and a publisher that reuses one ``Properties`` object has its encoding
cached by the channel. Invariant: treat instances (including ``headers``) as immutable.

Field tables are encoded and decoded by pamqp; everything else is plain ``struct``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pamqp import decode as pamqp_decode
from pamqp import encode as pamqp_encode

__all__ = ["EMPTY", "Properties", "decode_properties", "encode_properties"]

Headers = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Properties:
    """The AMQP 0-9-1 Basic properties of one message (``None`` means absent)."""

    content_type: str | None = None
    content_encoding: str | None = None
    headers: Headers | None = None
    delivery_mode: int | None = None
    priority: int | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    expiration: str | None = None
    message_id: str | None = None
    timestamp: datetime | None = None
    type: str | None = None
    user_id: str | None = None
    app_id: str | None = None


EMPTY = Properties()

# Property flag bits in wire order, most significant first (AMQP 0-9-1 spec, class basic).
_SHORTSTR, _TABLE, _OCTET, _TIMESTAMP = range(4)
_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("content_type", 1 << 15, _SHORTSTR),
    ("content_encoding", 1 << 14, _SHORTSTR),
    ("headers", 1 << 13, _TABLE),
    ("delivery_mode", 1 << 12, _OCTET),
    ("priority", 1 << 11, _OCTET),
    ("correlation_id", 1 << 10, _SHORTSTR),
    ("reply_to", 1 << 9, _SHORTSTR),
    ("expiration", 1 << 8, _SHORTSTR),
    ("message_id", 1 << 7, _SHORTSTR),
    ("timestamp", 1 << 6, _TIMESTAMP),
    ("type", 1 << 5, _SHORTSTR),
    ("user_id", 1 << 4, _SHORTSTR),
    ("app_id", 1 << 3, _SHORTSTR),
)
# cluster_id (bit 2) is deprecated and comes last, so decoding simply stops before it.
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")


def _shortstr(value: str, name: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"property {name} must encode to at most 255 bytes, got {len(raw)}")
    return bytes((len(raw),)) + raw


def encode_properties(properties: Properties) -> bytes:
    """The property flags and values of a content header, as sent on the wire."""
    flags = 0
    parts = [b""]
    for name, bit, kind in _FIELDS:
        value = getattr(properties, name)
        if value is None:
            continue
        flags |= bit
        if kind == _SHORTSTR:
            parts.append(_shortstr(value, name))
        elif kind == _TABLE:
            parts.append(pamqp_encode.field_table(value))
        elif kind == _OCTET:
            parts.append(bytes((value,)))
        else:
            parts.append(_U64.pack(int(value.timestamp())))
    parts[0] = _U16.pack(flags)
    return b"".join(parts)


def decode_properties(flags: int, data: bytes) -> Properties:
    """The properties encoded in ``data`` (the bytes after the 16-bit ``flags``)."""
    if not flags:
        return EMPTY
    values: dict[str, Any] = {}
    offset = 0
    for name, bit, kind in _FIELDS:
        if not flags & bit:
            continue
        if kind == _SHORTSTR:
            end = offset + 1 + data[offset]
            values[name] = data[offset + 1 : end].decode()
            offset = end
        elif kind == _TABLE:
            used, values[name] = pamqp_decode.field_table(data[offset:])
            offset += used
        elif kind == _OCTET:
            values[name] = data[offset]
            offset += 1
        else:
            stamp = _U64.unpack_from(data, offset)[0]
            values[name] = datetime.fromtimestamp(stamp, tz=UTC)
            offset += 8
    return Properties(**values)
