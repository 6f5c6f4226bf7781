"""Property encoding: what we put in a content header comes back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from amqp_channels.amqp import Properties
from amqp_channels.amqp.properties import EMPTY, decode_properties, encode_properties


def _round_trip(properties: Properties) -> Properties:
    encoded = encode_properties(properties)
    flags = int.from_bytes(encoded[:2], "big")
    return decode_properties(flags, encoded[2:])


def test_every_field_survives_a_round_trip() -> None:
    properties = Properties(
        content_type="application/msgpack", content_encoding="gzip",
        headers={"n": 1, "s": "x", "nested": {"b": True}}, delivery_mode=2, priority=5,
        correlation_id="c", reply_to="r", expiration="60000", message_id="m",
        timestamp=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), type="t", user_id="guest",
        app_id="a",
    )
    assert _round_trip(properties) == properties


def test_no_properties_decode_to_the_shared_empty_instance() -> None:
    assert _round_trip(Properties()) is EMPTY
