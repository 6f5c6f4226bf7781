"""Message encoding: what is refused before sending, and what survives the round trip."""

from __future__ import annotations

import json

import msgpack
import pytest
from channels.exceptions import MessageTooLarge

from amqp_channels.layer.config import LayerConfig
from amqp_channels.layer.wire import JSON, MSGPACK, Codec, UndecodableMessage


def codec(**config: object) -> Codec:
    return Codec(LayerConfig.from_kwargs(**config))


MESSAGE = {"type": "chat.message", "text": "héllo", "n": 3, "f": 1.5, "ok": True,
           "none": None, "list": [1, "a"], "nested": {"k": [1, 2]}}


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_round_trip_keeps_the_message(serializer: str) -> None:
    """All Channels message types survive encode/decode with either serializer."""
    c = codec(serializer=serializer)
    assert c.decode(c.encode(MESSAGE), c.content_type, c.content_encoding) == MESSAGE


def test_msgpack_keeps_bytes() -> None:
    """msgpack (the default) carries bytes values, as websocket binary frames need."""
    c = codec()
    body = c.encode({"type": "websocket.send", "bytes": b"\x00\xff"})
    assert c.decode(body, MSGPACK, None)["bytes"] == b"\x00\xff"


def test_json_refuses_bytes_clearly() -> None:
    """The json serializer refuses bytes with a TypeError naming the content type."""
    with pytest.raises(TypeError, match="application/json"):
        codec(serializer="json").encode({"type": "x", "bytes": b"\x00"})


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param(["type", "x"], TypeError, id="not-a-dict"),
        pytest.param({1: "x"}, TypeError, id="non-str-key"),
        pytest.param({"__asgi_channel__": "x"}, ValueError, id="reserved-key"),
        pytest.param({"type": "x", "obj": object()}, TypeError, id="unserializable"),
    ],
)
def test_bad_messages_are_refused(message: object, error: type[Exception]) -> None:
    """Non-messages are refused with a clear error before any byte is produced."""
    with pytest.raises(error):
        codec().encode(message)


def test_one_megabyte_json_message_fits_by_default() -> None:
    """The spec requires messages of at least 1 MB to work."""
    c = codec(serializer="json")
    big = {"type": "x", "text": "a" * (1024 * 1024)}
    assert c.decode(c.encode(big), JSON, None) == big


def test_oversize_message_is_message_too_large() -> None:
    """A message above max_message_size raises MessageTooLarge."""
    with pytest.raises(MessageTooLarge):
        codec(max_message_size=1000).encode({"type": "x", "text": "a" * 2000})


def test_decoder_follows_content_type() -> None:
    """A JSON body from a foreign publisher is read even when our serializer is msgpack."""
    c = codec()
    assert c.decode(json.dumps({"type": "x"}).encode(), JSON, None) == {"type": "x"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"\xc1garbage", MSGPACK, id="bad-msgpack"),
        pytest.param(b"{", JSON, id="bad-json"),
        pytest.param(msgpack.packb([1, 2]), MSGPACK, id="not-a-dict"),
        pytest.param(b"<xml/>", "text/xml", id="unknown-type"),
    ],
)
def test_foreign_bodies_are_undecodable(body: bytes, content_type: str) -> None:
    """Anything that is not one of our messages raises UndecodableMessage."""
    with pytest.raises(UndecodableMessage):
        codec().decode(body, content_type, None)


def test_encryption_round_trip_and_key_rotation() -> None:
    """The first key encrypts; every listed key decrypts, so keys can be rotated."""
    old = codec(symmetric_encryption_keys=["old-secret"])
    new = codec(symmetric_encryption_keys=["new-secret", "old-secret"])
    body = old.encode(MESSAGE)
    assert b"chat.message" not in body
    assert new.decode(body, MSGPACK, "fernet") == MESSAGE


def test_encryption_refuses_plain_and_wrong_key_messages() -> None:
    """With keys set, unencrypted bodies and bodies under other keys are refused."""
    c = codec(symmetric_encryption_keys=["k1"])
    with pytest.raises(UndecodableMessage):
        c.decode(msgpack.packb({"type": "x"}), MSGPACK, None)
    other = codec(symmetric_encryption_keys=["k2"]).encode({"type": "x"})
    with pytest.raises(UndecodableMessage):
        c.decode(other, MSGPACK, "fernet")
