"""Metrics through the OpenTelemetry metrics API, read with the SDK's in-memory reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aio_pika
import pytest
from channels.exceptions import ChannelFull

from tests.conftest import LayerFactory
from tests.helpers import receive

from .conftest import Otel, RunConsumer, handled


def total(otel: Otel, name: str, **attributes: str) -> float:
    return sum(point.value for point in otel.metric_points(name)
               if all(point.attributes.get(k) == v for k, v in attributes.items()))


async def test_sends_receives_and_channel_full_are_counted(
        make_traced_layer: LayerFactory, otel: Otel, prefix: str) -> None:
    """Sent and received messages, ChannelFull and the confirm latency are reported."""
    layer = make_traced_layer(capacity=2)
    for n in range(2):
        await layer.send("telemetry-counted", {"type": "m", "n": n})
    with pytest.raises(ChannelFull):
        await layer.send("telemetry-counted", {"type": "m"})
    await receive(layer, "telemetry-counted")

    assert total(otel, "messaging.client.sent.messages", **{"amqp_channels.prefix": prefix}) == 2
    assert total(otel, "messaging.client.consumed.messages") == 1
    assert total(otel, "amqp_channels.channel_full") == 1
    [latency] = otel.metric_points("messaging.client.operation.duration")
    assert latency.count == 2 and 0 < latency.sum < 10


async def test_fan_out_size_and_buffer_depth_are_reported(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel) -> None:
    """A group message handed to two local members records a fan-out of 2; messages held
    in a local buffer show in the depth gauge."""
    sender, members_layer = make_traced_layer(), make_traced_layer()
    members = [await run_consumer(members_layer) for _ in range(2)]
    for member in members:
        await members_layer.group_add("telemetry-fan", member.channel_name)
    await sender.group_send("telemetry-fan", {"type": "test.message"})
    for member in members:
        await handled(member)
    [fan_out] = otel.metric_points("amqp_channels.group.fan_out")
    assert (fan_out.count, fan_out.sum) == (1, 2)

    idle = await members_layer.new_channel()  # nobody receives: the message stays buffered
    await sender.send(idle, {"type": "held"})
    assert await eventually(lambda: total(otel, "amqp_channels.buffer.depth") == 1)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Wait for ``condition`` with a deadline (deliveries arrive asynchronously)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
    return True


async def test_dropped_messages_are_counted_by_reason(
        make_traced_layer: LayerFactory, otel: Otel, rabbitmq, prefix: str) -> None:
    """A message the layer cannot read is dropped and counted with reason 'foreign'."""
    layer = make_traced_layer()
    channel = await layer.new_channel()
    token = channel.split("!")[0].rsplit(".", 1)[-1]
    connection = await aio_pika.connect(rabbitmq.url)
    async with connection:
        amqp = await connection.channel()
        await amqp.default_exchange.publish(
            aio_pika.Message(b"\xc1", content_type="application/msgpack",
                             headers={"asgi-channel": channel}),
            routing_key=f"{prefix}.inbox.{token}")
    await eventually(lambda: layer.stats.dropped["foreign"] == 1)
    assert total(otel, "amqp_channels.dropped.messages",
                 **{"amqp_channels.drop.reason": "foreign"}) == 1

