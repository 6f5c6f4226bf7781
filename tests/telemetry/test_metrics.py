"""Metrics through the OpenTelemetry metrics API, read with the SDK's in-memory reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aio_pika
import pytest
from channels.exceptions import ChannelFull

from amqp_channels.amqp import connect
from amqp_channels.amqp.errors import ChannelClosed
from amqp_channels.layer.naming import channel_queue, inbox_token
from amqp_channels.sync import SyncPublisher
from tests.conftest import LayerFactory
from tests.helpers import TIMEOUT, receive
from tools.rabbitmq_node import RabbitMQNode

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
        make_traced_layer: LayerFactory, otel: Otel, rabbitmq: RabbitMQNode, prefix: str) -> None:
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


def dropped(otel: Otel, reason: str) -> float:
    return total(otel, "amqp_channels.dropped.messages", **{"amqp_channels.drop.reason": reason})


async def test_expired_messages_are_counted(make_traced_layer: LayerFactory,
                                            otel: Otel) -> None:
    """A message left unread past ``expiry`` in a process's buffer is dropped by the sweep
    and counted with reason 'expired'."""
    layer = make_traced_layer(expiry=1)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "unread"})
    await eventually(lambda: layer.stats.dropped["expired"] == 1, timeout=TIMEOUT)
    assert dropped(otel, "expired") == 1


async def test_a_full_group_member_is_counted(make_traced_layer: LayerFactory,
                                              otel: Otel) -> None:
    """A group member at capacity misses a group message: reason 'group-member-full'."""
    layer = make_traced_layer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    for member in (full, free):
        await layer.group_add("telemetry-busy", member)
    await layer.group_send("telemetry-busy", {"type": "first"})
    await receive(layer, free)
    await layer.group_send("telemetry-busy", {"type": "second"})  # `full` holds "first"
    await receive(layer, free)
    assert layer.stats.dropped["group-member-full"] == 1
    assert dropped(otel, "group-member-full") == 1


async def test_reconnects_are_counted(own_rabbitmq: RabbitMQNode, make_own_layer: LayerFactory,
                                      otel: Otel) -> None:
    """The broker closes the layer's connection: once it is back, one reconnect is
    reported (the first connect is not one)."""
    layer = make_own_layer(meter_provider=otel.meter_provider)
    await layer.new_channel()  # connects
    link = layer._state().link
    assert total(otel, "amqp_channels.reconnects") == 0
    generation = link.generation
    await asyncio.to_thread(own_rabbitmq.close_all_connections)
    await eventually(lambda: link.generation > generation, timeout=TIMEOUT)
    await link.ready(TIMEOUT)
    await eventually(lambda: layer.stats.reconnects == 1, timeout=TIMEOUT)
    assert total(otel, "amqp_channels.reconnects") == 1



async def queue_gone(url: str, queue: str) -> bool:
    """Wait until ``queue`` no longer exists (an exclusive queue goes soon after its
    connection closes)."""
    connection = await connect(url)
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                channel = await connection.channel()
                try:
                    await channel.queue_declare(queue, passive=True)
                except ChannelClosed:
                    return True
                await channel.close()
                await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def test_sends_to_a_gone_process_are_counted_unroutable(
        make_traced_layer: LayerFactory, otel: Otel, rabbitmq: RabbitMQNode, prefix: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A send to a channel of a closed layer succeeds (nobody reading is no error) but is
    counted as dropped 'unroutable' and logged with the channel's name; a send to a live
    channel, and a group_send to a group nobody joined, are not counted."""
    live, gone = make_traced_layer(), make_traced_layer()
    orphan = await gone.new_channel()
    await gone.close()
    await queue_gone(rabbitmq.url, f"{prefix}.inbox.{inbox_token(orphan)}")

    await live.send(orphan, {"type": "lost"})
    assert live.stats.dropped["unroutable"] == 1  # returned before the confirm
    assert live.stats.sent == 1
    assert orphan in caplog.text and "unroutable" in caplog.text
    assert total(otel, "amqp_channels.dropped.messages",
                 **{"amqp_channels.drop.reason": "unroutable"}) == 1

    listener = await live.new_channel()
    await live.send(listener, {"type": "kept"})  # delivered locally, no broker
    other = make_traced_layer()
    await other.send(listener, {"type": "kept"})  # through the broker to a live inbox
    await live.group_send("telemetry-empty", {"type": "nobody"})
    assert (await receive(live, listener))["type"] == "kept"
    assert other.stats.dropped["unroutable"] == 0
    assert live.stats.dropped["unroutable"] == 1
    await live.group_add("telemetry-orphans", orphan)  # asks the gone owner: returned too
    assert live.stats.dropped["unroutable"] == 2


async def test_a_deleted_normal_channel_queue_comes_back_without_a_drop(
        make_traced_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str) -> None:
    """A normal channel whose queue was deleted by hand: the send that finds it gone is
    returned, declares the queue again and is sent once more, so nothing is counted as
    dropped and each send is counted once."""
    layer = make_traced_layer()
    await layer.send("telemetry-normal", {"type": "first"})
    connection = await connect(rabbitmq.url)
    try:
        await (await connection.channel()).queue_delete(
            channel_queue(prefix, "telemetry-normal"))
    finally:
        await connection.close()
    await layer.send("telemetry-normal", {"type": "resent"})
    await layer.send("telemetry-normal", {"type": "again"})
    assert [(await receive(layer, "telemetry-normal"))["type"] for _ in range(2)] == [
        "resent", "again"]
    assert not layer.stats.dropped and layer.stats.sent == 3


async def test_sync_publisher_reports_the_same_metrics(
        make_traced_layer: LayerFactory, otel: Otel, rabbitmq: RabbitMQNode,
        prefix: str) -> None:
    """The kombu publisher counts sent messages, ChannelFull (raised by send only),
    group-inbox-full and unroutable sends, and records its confirm latency, on the layer's
    instruments."""
    layer = make_traced_layer(capacity=1)
    gone = make_traced_layer()
    orphan = await gone.new_channel()
    await gone.close()
    await queue_gone(rabbitmq.url, f"{prefix}.inbox.{inbox_token(orphan)}")
    # a normal channel in the group: its queue holds 1, the second group_send is nacked
    await layer.group_add("telemetry-sync", "telemetry-sync-member")
    publisher = SyncPublisher(hosts=[rabbitmq.url], prefix=prefix, capacity=1,
                              meter_provider=otel.meter_provider)
    try:
        await asyncio.to_thread(publisher.send, "telemetry-sync-normal", {"type": "a"})
        await asyncio.to_thread(publisher.send, orphan, {"type": "lost"})  # no error
        with pytest.raises(ChannelFull):
            await asyncio.to_thread(publisher.send, "telemetry-sync-normal", {"type": "b"})
        for _ in range(2):
            await asyncio.to_thread(publisher.group_send, "telemetry-sync", {"type": "g"})
    finally:
        publisher.close()
    await layer.group_send("telemetry-sync", {"type": "g"})  # the layer counts alike
    assert (layer.stats.channel_full, layer.stats.dropped["group-inbox-full"]) == (0, 1)

    stats = publisher.stats
    assert (stats.channel_full, stats.dropped["unroutable"]) == (1, 1)
    assert stats.dropped["group-inbox-full"] == 1
    assert total(otel, "messaging.client.sent.messages") == stats.sent == 3
    assert total(otel, "amqp_channels.channel_full") == 1
    assert total(otel, "amqp_channels.dropped.messages",
                 **{"amqp_channels.drop.reason": "unroutable"}) == 1
    assert total(otel, "amqp_channels.dropped.messages",  # the publisher's and the layer's
                 **{"amqp_channels.drop.reason": "group-inbox-full"}) == 2
    [latency] = otel.metric_points("messaging.client.operation.duration")
    assert latency.count == stats.sent
