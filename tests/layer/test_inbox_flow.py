"""The inbox's own flow control: consumed without acks, it cancels its consumer while it
holds ``prefetch_count`` deliveries and consumes again once they are taken."""

from __future__ import annotations

import asyncio

from amqp_channels.layer import AMQPChannelLayer
from amqp_channels.layer.naming import inbox_queue, inbox_token
from tests.conftest import LayerFactory
from tests.helpers import receive, reconnected_since
from tools.rabbitmq_node import RabbitMQNode


def queue_state(node: RabbitMQNode, queue: str) -> tuple[int, int]:
    """(consumers, messages ready) of ``queue``, as the broker reports them."""
    listing = node.ctl("list_queues", "name", "consumers", "messages_ready", "--quiet").stdout
    for line in listing.strip().splitlines():
        name, consumers, ready = line.split("\t")
        if name == queue:
            return int(consumers), int(ready)
    raise AssertionError(f"no queue {queue} on the broker")


async def settled(node: RabbitMQNode, queue: str, consumers: int, ready_at_least: int = 0,
                  ready_at_most: int | None = None) -> tuple[int, int]:
    """The queue's state once it matches, or as it is after 5 s (the consumer is switched
    by a task and the broker's counts lag a little: poll, don't guess)."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        state = await asyncio.to_thread(queue_state, node, queue)
        if (state[0] == consumers and state[1] >= ready_at_least
                and (ready_at_most is None or state[1] <= ready_at_most)):
            return state
        if asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.05)


async def fill_the_window(make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str,
                          count: int) -> tuple[AMQPChannelLayer, AMQPChannelLayer, str, str, int]:
    """An owner with a window of 4 that is sent ``count`` messages and reads none, so its
    inbox stops consuming: (owner, sender, channel, inbox queue, messages left ready)."""
    owner, sender = make_layer(prefetch_count=4), make_layer()
    channel = await owner.new_channel()
    queue = inbox_queue(prefix, inbox_token(channel))
    for i in range(count):
        await sender.send(channel, {"type": "m", "i": i})
    consumers, ready = await settled(rabbitmq, queue, consumers=0, ready_at_least=1)
    assert consumers == 0
    return owner, sender, channel, queue, ready


async def test_a_process_holding_its_window_leaves_the_rest_on_the_broker(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str) -> None:
    """With ``prefetch_count`` deliveries held, the inbox stops consuming: what is sent
    next waits in the inbox queue (where ``x-max-length`` applies). Reading the channel
    takes the held messages, consuming resumes, and everything arrives once, in order."""
    owner, sender, channel, queue, ready = await fill_the_window(make_layer, rabbitmq,
                                                                 prefix, 20)
    assert ready >= 1  # at most the window and what was already on its way came in
    assert owner._state().inbox.buffered == 20 - ready
    got = [(await receive(owner, channel))["i"] for _ in range(20)]
    assert got == list(range(20))
    assert await settled(rabbitmq, queue, consumers=1, ready_at_most=0) == (1, 0)
    await sender.send(channel, {"type": "after"})
    assert (await receive(owner, channel))["type"] == "after"


async def test_group_copies_hold_their_delivery_until_each_is_taken(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str) -> None:
    """A group message fanned out to two local members is one delivery, held until both
    copies are received: the window counts deliveries, not copies."""
    owner, sender = make_layer(prefetch_count=2), make_layer()
    first, second = await owner.new_channel(), await owner.new_channel()
    queue = inbox_queue(prefix, inbox_token(first))
    await owner.group_add("pair", first)
    await owner.group_add("pair", second)
    for i in range(6):
        await sender.group_send("pair", {"type": "g", "i": i})
    await settled(rabbitmq, queue, consumers=0, ready_at_least=1)
    assert (await receive(owner, first))["i"] == 0  # one copy taken: still held
    await asyncio.sleep(0.2)
    assert (await asyncio.to_thread(queue_state, rabbitmq, queue))[0] == 0
    assert (await receive(owner, second))["i"] == 0  # both taken: consuming again
    rest = [((await receive(owner, first))["i"], (await receive(owner, second))["i"])
            for _ in range(5)]
    assert rest == [(i, i) for i in range(1, 6)]
    assert await settled(rabbitmq, queue, consumers=1, ready_at_most=0) == (1, 0)


async def test_inbox_deleted_while_not_consuming_is_declared_again(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str) -> None:
    """An inbox deleted on the broker while its consumer is cancelled (the window is
    full) gets no cancel from the broker; consuming again finds it gone, and the layer
    reconnects and declares it again instead of going quiet."""
    owner, sender, channel, queue, _ready = await fill_the_window(make_layer, rabbitmq,
                                                                  prefix, 8)
    held = owner._state().inbox.buffered
    generation = owner._state().link.generation
    await asyncio.to_thread(rabbitmq.ctl, "delete_queue", queue)
    assert [(await receive(owner, channel))["i"] for _ in range(held)] == list(range(held))
    await reconnected_since(owner, generation)
    await sender.send(channel, {"type": "after"})
    assert (await receive(owner, channel))["type"] == "after"
