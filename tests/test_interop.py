"""A service that is not Python Channels publishes into the layer with a plain AMQP client,
following the documented wire format (docs/wire-format.md)."""

from __future__ import annotations

import json

import aio_pika
import msgpack

from amqp_channels import AMQPChannelLayer
from tests.conftest import LayerFactory
from tests.helpers import receive


async def _publish(url: str, routing_key: str, body: bytes, content_type: str,
                   headers: dict | None = None) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(body, content_type=content_type, headers=headers or {}),
            routing_key=routing_key,
        )


async def test_plain_client_publishes_json_to_a_normal_channel(
        rabbitmq, layer: AMQPChannelLayer, prefix: str) -> None:
    """JSON published to {prefix}.channel.NAME is received on normal channel NAME."""
    await layer.send("interop-jobs", {"type": "warm"})  # the queue exists once used
    assert (await receive(layer, "interop-jobs"))["type"] == "warm"
    await _publish(rabbitmq.url, f"{prefix}.channel.interop-jobs",
                   json.dumps({"type": "from.go", "n": 1}).encode(), "application/json")
    assert await receive(layer, "interop-jobs") == {"type": "from.go", "n": 1}


async def test_plain_client_publishes_msgpack_to_a_process_specific_channel(
        rabbitmq, layer: AMQPChannelLayer, prefix: str) -> None:
    """msgpack published to the inbox queue with the asgi-channel header reaches it."""
    channel = await layer.new_channel()
    token = channel.split("!")[0].rsplit(".", 1)[-1]
    await _publish(rabbitmq.url, f"{prefix}.inbox.{token}",
                   msgpack.packb({"type": "from.java", "b": b"\x01"}), "application/msgpack",
                   {"asgi-channel": channel, "asgi-schema": 1})
    assert await receive(layer, channel) == {"type": "from.java", "b": b"\x01"}


async def test_foreign_messages_are_dropped_and_receiving_goes_on(
        rabbitmq, make_layer: LayerFactory, prefix: str) -> None:
    """Garbage, unknown content types and messages without a valid target are dropped and
    counted; the next good message still arrives."""
    layer = make_layer()
    channel = await layer.new_channel()
    token = channel.split("!")[0].rsplit(".", 1)[-1]
    inbox = f"{prefix}.inbox.{token}"
    await _publish(rabbitmq.url, inbox, b"\xc1\xc1", "application/msgpack",
                   {"asgi-channel": channel})
    await _publish(rabbitmq.url, inbox, b"<x/>", "text/xml", {"asgi-channel": channel})
    await _publish(rabbitmq.url, inbox, msgpack.packb({"type": "x"}), "application/msgpack")
    await _publish(rabbitmq.url, inbox, msgpack.packb({"type": "x"}), "application/msgpack",
                   {"asgi-channel": "specific.other!x"})
    await layer.send("foreign-normal", {"type": "warm"})
    assert (await receive(layer, "foreign-normal"))["type"] == "warm"
    await _publish(rabbitmq.url, f"{prefix}.channel.foreign-normal", b"{", "application/json")
    await make_layer().send(channel, {"type": "good"})
    await make_layer().send("foreign-normal", {"type": "good"})
    assert (await receive(layer, channel))["type"] == "good"
    assert (await receive(layer, "foreign-normal"))["type"] == "good"
    assert layer.stats.dropped["foreign"] == 5
