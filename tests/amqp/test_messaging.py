"""Publishing, confirms, consuming, prefetch and acknowledgements."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from amqp_channels.amqp import Channel, Connection, Delivery, Properties, Returned
from amqp_channels.amqp.errors import PublishNacked

TIMEOUT = 10.0


async def until(condition: Callable[[], Awaitable[bool]], deadline: float = TIMEOUT) -> None:
    """Wait for an asynchronous condition, failing the test after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not await condition():
        if time.monotonic() > end:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.05)


async def test_round_trip_keeps_body_headers_and_properties(
        confirm_channel: Channel, channel: Channel, queue: str) -> None:
    """What we publish is delivered with the same body, properties and routing data."""
    properties = Properties(
        content_type="application/msgpack", content_encoding="binary",
        headers={"retries": 2, "origin": "test", "flags": [1, "a"]}, delivery_mode=2,
        message_id="m-1", expiration="60000", correlation_id="c-1", reply_to="r",
        type="chat", timestamp=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    )
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    tag = await channel.basic_consume(queue, received.put_nowait, no_ack=True)
    await confirm_channel.basic_publish(b"\x00payload\xff", routing_key=queue,
                                        properties=properties)
    delivery = await asyncio.wait_for(received.get(), TIMEOUT)
    assert delivery.body == b"\x00payload\xff"
    assert delivery.properties == properties
    assert (delivery.exchange, delivery.routing_key, delivery.consumer_tag) == ("", queue, tag)
    assert delivery.channel is channel and not delivery.redelivered


async def test_two_megabyte_body_is_split_and_reassembled(
        confirm_channel: Channel, channel: Channel, queue: str) -> None:
    """Bodies above frame_max travel as many body frames and arrive whole."""
    body = bytes(range(256)) * (2 * 1024 * 1024 // 256)
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    await channel.basic_consume(queue, received.put_nowait, no_ack=True)
    await confirm_channel.basic_publish(body, routing_key=queue)
    await confirm_channel.basic_publish(b"", routing_key=queue)
    assert (await asyncio.wait_for(received.get(), TIMEOUT)).body == body
    assert (await asyncio.wait_for(received.get(), TIMEOUT)).body == b""


async def test_nack_raises_publish_nacked(confirm_channel: Channel, prefix: str) -> None:
    """A full queue with overflow=reject-publish nacks; the publisher gets PublishNacked."""
    name = f"{prefix}.full"
    await confirm_channel.queue_declare(name, exclusive=True, arguments={
        "x-max-length": 1, "x-overflow": "reject-publish"})
    await confirm_channel.basic_publish(b"first", routing_key=name)
    with pytest.raises(PublishNacked):
        await confirm_channel.basic_publish(b"second", routing_key=name)
    await confirm_channel.queue_delete(name)


async def test_unroutable_mandatory_publish_is_returned_before_its_ack(
        confirm_channel: Channel, channel: Channel, queue: str, prefix: str) -> None:
    """A mandatory publish to a missing queue is confirmed (no error) and reported to
    on_return, with its properties, before the publish returns; a routable one is not."""
    returned: list[Returned] = []
    confirm_channel.on_return = returned.append
    properties = Properties(headers={"asgi-channel": "x.abc!1"})
    await confirm_channel.basic_publish(b"lost", routing_key=f"{prefix}.nowhere",
                                        properties=properties, mandatory=True)
    assert [(r.exchange, r.routing_key, r.reply_code, r.properties.headers)
            for r in returned] == [("", f"{prefix}.nowhere", 312, {"asgi-channel": "x.abc!1"})]
    await confirm_channel.basic_publish(b"kept", routing_key=queue, mandatory=True)
    await confirm_channel.basic_publish(b"", routing_key=f"{prefix}.nowhere", mandatory=True)
    assert len(returned) == 2 and returned[1].properties == Properties()
    assert (await channel.queue_declare(queue, passive=True))[0] == 1  # "kept" got there


async def test_callback_errors_are_logged_not_fatal(
        confirm_channel: Channel, channel: Channel, queue: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A consumer callback that raises is logged and later deliveries still arrive."""
    received: asyncio.Queue[Delivery] = asyncio.Queue()

    def callback(delivery: Delivery) -> None:
        received.put_nowait(delivery)
        if delivery.body == b"boom":
            raise RuntimeError("boom")

    await channel.basic_consume(queue, callback, no_ack=True)
    await confirm_channel.basic_publish(b"boom", routing_key=queue)
    await confirm_channel.basic_publish(b"fine", routing_key=queue)
    assert (await asyncio.wait_for(received.get(), TIMEOUT)).body == b"boom"
    assert (await asyncio.wait_for(received.get(), TIMEOUT)).body == b"fine"
    assert "callback raised" in caplog.text


async def test_prefetch_limits_unacked_deliveries(
        confirm_channel: Channel, channel: Channel, queue: str) -> None:
    """With basic_qos(3) only 3 messages are outstanding until we ack."""
    for n in range(10):
        await confirm_channel.basic_publish(str(n).encode(), routing_key=queue)
    await channel.basic_qos(prefetch_count=3)
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    await channel.basic_consume(queue, received.put_nowait)
    first = [await asyncio.wait_for(received.get(), TIMEOUT) for _ in range(3)]
    ready, _ = await confirm_channel.queue_declare(queue, passive=True)
    assert ready == 7 and received.empty()
    channel.basic_ack(first[-1].delivery_tag, multiple=True)
    second = [await asyncio.wait_for(received.get(), TIMEOUT) for _ in range(3)]
    assert [d.body for d in first + second] == [str(n).encode() for n in range(6)]


async def test_ack_multiple_settles_every_earlier_delivery(
        connection: Connection, confirm_channel: Channel, queue: str) -> None:
    """One ack with multiple=True acknowledges all deliveries up to its tag."""
    consumer = await connection.channel()
    for n in range(5):
        await confirm_channel.basic_publish(str(n).encode(), routing_key=queue)
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    await consumer.basic_consume(queue, received.put_nowait)
    deliveries = [await asyncio.wait_for(received.get(), TIMEOUT) for _ in range(5)]
    consumer.basic_ack(deliveries[-1].delivery_tag, multiple=True)
    await consumer.close()  # unacked messages would be requeued now

    async def queue_is_empty() -> bool:
        ready, _ = await confirm_channel.queue_declare(queue, passive=True)
        return ready == 0

    await until(queue_is_empty)


async def test_publish_without_confirms_returns_after_writing(
        channel: Channel, queue: str) -> None:
    """On a plain channel basic_publish does not wait for the broker."""
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    await channel.basic_consume(queue, received.put_nowait, no_ack=True)
    await channel.basic_publish(b"fire-and-forget", routing_key=queue)
    assert (await asyncio.wait_for(received.get(), TIMEOUT)).body == b"fire-and-forget"


async def test_returned_mandatory_message_does_not_break_the_channel(
        confirm_channel: Channel, queue: str) -> None:
    """An unroutable mandatory message is returned and ignored; the channel keeps working."""
    await confirm_channel.basic_publish(b"nowhere", routing_key=f"{queue}.none",
                                        mandatory=True)
    await confirm_channel.basic_publish(b"somewhere", routing_key=queue, mandatory=True)
    ready, _ = await confirm_channel.queue_declare(queue, passive=True)
    assert ready == 1 and not confirm_channel.is_closed


async def test_consumer_is_told_when_the_broker_cancels_it(
        connection: Connection, channel: Channel, prefix: str) -> None:
    """on_cancel runs when the consumer's queue is deleted, not when we cancel ourselves."""
    cancelled: list[str] = []
    gone, kept = f"{prefix}.gone", f"{prefix}.kept"
    for name in (gone, kept):
        await channel.queue_declare(name, exclusive=True)
        await channel.basic_consume(name, lambda delivery: None, no_ack=True,
                                    on_cancel=lambda name=name: cancelled.append(name))
    ours = await channel.basic_consume(kept, lambda delivery: None, no_ack=True,
                                       on_cancel=lambda: cancelled.append("ours"))
    await channel.basic_cancel(ours)
    other = await connection.channel()
    await other.queue_delete(gone)

    async def told() -> bool:
        return bool(cancelled)

    await until(told)
    assert cancelled == [gone]
