"""The sync publisher writes the wire format the async layer writes (docs/wire-format.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aio_pika
import pytest

from amqp_channels.layer.config import LayerConfig
from amqp_channels.layer.wire import Codec
from tests.conftest import LayerFactory
from tests.helpers import receive
from tests.sync.conftest import PublisherFactory

CONFIGS = [
    pytest.param({}, id="msgpack"),
    pytest.param({"serializer": "json"}, id="json"),
    pytest.param({"symmetric_encryption_keys": ["secret"]}, id="encrypted"),
]


async def _get(url: str, queue: str) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        message = await declared.get(timeout=5)
        await message.ack()
        return message


def _fields(message: aio_pika.abc.AbstractIncomingMessage) -> dict[str, Any]:
    return {"content_type": message.content_type, "content_encoding": message.content_encoding,
            "headers": message.headers, "delivery_mode": message.delivery_mode,
            "priority": message.priority, "expiration": message.expiration,
            "message_id": message.message_id}


@pytest.mark.parametrize("config", CONFIGS)
async def test_normal_channel_message_matches_the_layers(
        rabbitmq, prefix: str, make_layer: LayerFactory, make_publisher: PublisherFactory,
        config: dict[str, Any]) -> None:
    """Sent by the layer or by the sync publisher, a message has the same properties, and
    the same body unless encrypted (Fernet tokens differ each time)."""
    layer, publisher = make_layer(**config), make_publisher(**config)
    message = {"type": "wire", "n": 1}
    await layer.send("wire", message)
    await asyncio.to_thread(publisher.send, "wire", message)
    queue = f"{prefix}.channel.wire"
    by_layer, by_publisher = await _get(rabbitmq.url, queue), await _get(rabbitmq.url, queue)
    assert _fields(by_publisher) == _fields(by_layer)
    if "symmetric_encryption_keys" not in config:
        assert by_publisher.body == by_layer.body
    codec = Codec(LayerConfig.from_kwargs(**config))
    assert codec.decode(by_publisher.body, by_publisher.content_type,
                        by_publisher.content_encoding) == message


async def test_existing_queue_with_other_arguments_is_used_as_it_is(
        make_layer: LayerFactory, make_publisher: PublisherFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    """A queue declared with another expiry (an older deploy) gets the message, with a
    warning, instead of a PRECONDITION_FAILED error."""
    layer = make_layer(expiry=60)
    await layer.send("redeployed", {"type": "old"})
    publisher = make_publisher(expiry=30)
    with caplog.at_level(logging.WARNING, logger="amqp_channels.sync"):
        await asyncio.to_thread(publisher.send, "redeployed", {"type": "new"})
    assert "exists with other arguments" in caplog.text
    assert await receive(layer, "redeployed") == {"type": "old"}
    assert await receive(layer, "redeployed") == {"type": "new"}
