"""Inbox acks: gathered into multiple acks, never one the broker would refuse."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from amqp_channels.layer import acks
from amqp_channels.layer.acks import AckCoalescer
from amqp_channels.layer.naming import inbox_queue, inbox_token
from tests.conftest import LayerFactory
from tests.helpers import receive
from tools.rabbitmq_node import RabbitMQNode


class RecordingChannel:
    """Pure-logic stand-in for an AMQP channel: records the acks it is asked to send."""

    is_closed = False

    def __init__(self) -> None:
        self.sent: list[tuple[int, bool]] = []

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.sent.append((tag, multiple))

    def basic_ack_each(self, tags: list[int]) -> None:
        self.sent.extend((tag, False) for tag in tags)


def acked_by(sent: list[tuple[int, bool]], outstanding: list[int]) -> set[int]:
    """What the broker would ack for ``sent``; fails where it would close the channel
    (an ack of a tag that is not outstanding, multiple or not)."""
    waiting, acked = list(outstanding), set()
    for tag, multiple in sent:
        assert tag in waiting, f"ack of {tag}, which is not outstanding: PRECONDITION_FAILED"
        covered = [t for t in waiting if t <= tag] if multiple else [tag]
        acked.update(covered)
        waiting = [t for t in waiting if t not in covered]
    return acked


async def test_in_order_acks_become_one_multiple_ack() -> None:
    coalescer, channel = AckCoalescer(prefetch_count=10_000), RecordingChannel()
    coalescer.reset(channel)  # type: ignore[arg-type]
    for tag in range(1, 11):
        coalescer.delivered(tag)
        coalescer.done(tag)
    coalescer.flush()
    assert channel.sent == [(10, True)]


async def test_a_held_delivery_keeps_later_ones_out_of_the_multiple_ack() -> None:
    coalescer, channel = AckCoalescer(prefetch_count=10_000), RecordingChannel()
    coalescer.reset(channel)  # type: ignore[arg-type]
    for tag in range(1, 7):
        coalescer.delivered(tag)
    for tag in (1, 2, 4, 5):  # 3 is held (a busy channel's backlog), 6 not done yet
        coalescer.done(tag)
    coalescer.flush()
    assert channel.sent == [(2, True), (4, False), (5, False)]
    channel.sent.clear()
    coalescer.done(3)
    coalescer.done(6)
    coalescer.flush()
    # 3 and 6 are the outstanding ones; 4 and 5 were acked alone and must not be named.
    assert channel.sent == [(6, True)]
    assert acked_by(channel.sent, [3, 6]) == {3, 6}


async def test_random_order_acks_every_delivery_exactly_once() -> None:
    rng = random.Random(7)
    coalescer, channel = AckCoalescer(prefetch_count=10_000), RecordingChannel()
    coalescer.reset(channel)  # type: ignore[arg-type]
    tags = list(range(1, 501))
    for tag in tags:
        coalescer.delivered(tag)
    order = tags[:]
    rng.shuffle(order)
    acked: set[int] = set()
    outstanding = tags[:]
    for start in range(0, len(order), 37):
        for tag in order[start:start + 37]:
            coalescer.done(tag)
        channel.sent.clear()
        coalescer.flush()
        newly = acked_by(channel.sent, outstanding)
        assert not newly & acked
        acked |= newly
        outstanding = [t for t in outstanding if t not in newly]
    assert acked == set(tags)


async def test_acks_wait_at_most_the_delay() -> None:
    coalescer, channel = AckCoalescer(prefetch_count=10_000), RecordingChannel()
    coalescer.reset(channel)  # type: ignore[arg-type]
    coalescer.delivered(1)
    coalescer.done(1)
    assert channel.sent == []
    await asyncio.sleep(acks.ACK_DELAY * 5)
    assert channel.sent == [(1, True)]


async def test_acks_go_at_once_when_half_the_prefetch_window_waits() -> None:
    """A small prefetch window must not fill up with deliveries that only wait for our ack
    delay: the broker would stop delivering and senders would see ChannelFull early."""
    coalescer, channel = AckCoalescer(prefetch_count=10), RecordingChannel()
    coalescer.reset(channel)  # type: ignore[arg-type]
    for tag in range(1, 6):
        coalescer.delivered(tag)
    coalescer.done(1)
    assert channel.sent == [(1, True)]  # 5 outstanding of a window of 10: no waiting


def unacked(node: RabbitMQNode, queue: str) -> int:
    listing = node.ctl("list_queues", "name", "messages_unacknowledged", "--quiet").stdout
    counts = dict(line.split("\t") for line in listing.strip().splitlines()[1:])
    return int(counts[queue])


async def settled_unacked(node: RabbitMQNode, queue: str, expected: int) -> int:
    """The queue's unacked count once it is ``expected``, or whatever it is after 5 s (the
    acks wait ACK_DELAY, then need the event loop and the broker: poll, don't guess)."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while (count := await asyncio.to_thread(unacked, node, queue)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    return count


async def test_the_broker_sees_exactly_the_held_deliveries_unacked(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str) -> None:
    """Messages taken out of order are acked (in batches) and the held ones stay unacked;
    the consumer channel survives (a wrong multiple ack would make the broker close it)."""
    owner, sender = make_layer(), make_layer()
    channels = [await owner.new_channel() for _ in range(4)]
    queue = inbox_queue(prefix, inbox_token(channels[0]))
    messages: list[tuple[str, dict[str, Any]]] = []
    for i in range(40):
        channel = channels[i % 4]
        messages.append((channel, {"type": "m", "i": i}))
        await sender.send(channel, {"type": "m", "i": i})
    # Read three channels completely, leave channels[1] (10 messages) unread.
    for channel in (channels[3], channels[0], channels[2]):
        for _ in range(10):
            await receive(owner, channel)
    assert await settled_unacked(rabbitmq, queue, 10) == 10
    for _ in range(10):
        await receive(owner, channels[1])
    await sender.send(channels[1], {"type": "after"})
    assert (await receive(owner, channels[1]))["type"] == "after"
    assert await settled_unacked(rabbitmq, queue, 0) == 0
    assert owner.stats.reconnects == 0
