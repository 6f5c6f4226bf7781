"""Message bodies on the wire: encoding, optional encryption, size limit, decoding.

Senders use the configured serializer; receivers decode by the message's ``content_type``,
so msgpack and JSON publishers (for example a Go service using JSON) can share a queue.
With ``symmetric_encryption_keys`` set, bodies are Fernet tokens (``content_encoding:
fernet``) and unencrypted bodies are refused, since they could be forged by anyone with
queue access.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from channels.exceptions import MessageTooLarge

from .config import LayerConfig

MSGPACK = "application/msgpack"
JSON = "application/json"
FERNET = "fernet"
RESERVED_PREFIX = "__asgi_"


class UndecodableMessage(ValueError):
    """A body that is not a message of ours: wrong content type, bad bytes, wrong key."""


class Codec:
    """Turns message dicts into bodies and back, per the layer's config."""

    def __init__(self, config: LayerConfig) -> None:
        self.content_type = MSGPACK if config.serializer == "msgpack" else JSON
        self.max_size = config.max_message_size
        self._fernet: Any = None
        if config.symmetric_encryption_keys:
            try:
                from cryptography.fernet import Fernet, MultiFernet
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ValueError(
                    "CONFIG 'symmetric_encryption_keys' needs the cryptography package: "
                    "pip install amqp-channels[crypto]"
                ) from exc
            self._fernet = MultiFernet([Fernet(k) for k in config.symmetric_encryption_keys])
        self.content_encoding = FERNET if self._fernet else None

    def encode(self, message: Any) -> bytes:
        """Validate and encode ``message``; raise before anything could be sent."""
        check_message(message)
        try:
            if self.content_type == MSGPACK:
                body: bytes = msgpack.packb(message, use_bin_type=True)
            else:
                body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"message cannot be serialized as {self.content_type}: {exc}") from exc
        if self._fernet is not None:
            body = self._fernet.encrypt(body)
        if len(body) > self.max_size:
            raise MessageTooLarge(
                f"message is {len(body)} bytes encoded; max_message_size is {self.max_size}"
            )
        return body

    def decode(self, body: bytes, content_type: str | None, content_encoding: str | None
               ) -> dict[str, Any]:
        """Decode a body from the wire; raise ``UndecodableMessage`` for anything foreign."""
        if self._fernet is not None:
            if content_encoding != FERNET:
                raise UndecodableMessage("unencrypted message while encryption is configured")
            try:
                body = self._fernet.decrypt(body)
            except Exception as exc:  # cryptography raises InvalidToken and friends
                raise UndecodableMessage("message does not decrypt with any configured key"
                                         ) from exc
        elif content_encoding == FERNET:
            raise UndecodableMessage("encrypted message but no symmetric_encryption_keys")
        content_type = content_type or self.content_type
        try:
            if content_type == MSGPACK:
                message = msgpack.unpackb(body, raw=False, strict_map_key=False)
            elif content_type == JSON:
                message = json.loads(body)
            else:
                raise UndecodableMessage(f"unsupported content type {content_type!r}")
        except UndecodableMessage:
            raise
        except Exception as exc:
            raise UndecodableMessage(f"body is not valid {content_type}: {exc}") from exc
        if not isinstance(message, dict):
            raise UndecodableMessage(f"body is a {type(message).__name__}, not a message dict")
        return message


def check_message(message: Any) -> None:
    """Refuse what is not a Channels message: non-dicts, non-str keys, reserved keys."""
    if not isinstance(message, dict):
        raise TypeError(f"message must be a dict, got {type(message).__name__}")
    for key in message:
        if not isinstance(key, str):
            raise TypeError(f"message keys must be strings, got {key!r}")
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"message key {key!r} is reserved for channel layers")
