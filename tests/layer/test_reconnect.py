"""Outages: connections killed by the broker, and a broker restart in mid-stream."""

from __future__ import annotations

import asyncio
import time

import pytest

from amqp_channels import AMQPChannelLayer, BrokerUnavailable, MessageTooLarge
from amqp_channels.layer.naming import channel_queue, group_router
from amqp_channels.layer.shared_queues import IDLE_RELEASE
from tests.conftest import LayerFactory
from tests.helpers import receive, reconnected_since

pytestmark = pytest.mark.slow


async def wait_reconnected(*layers: AMQPChannelLayer, timeout: float = 20) -> None:
    """Wait until every layer's link on this loop is connected again."""
    async with asyncio.timeout(timeout):
        for layer in layers:
            await layer._state().link.ready(timeout)


async def send_with_retry(layer: AMQPChannelLayer, channel: str, message: dict,
                          timeout: float = 30) -> None:
    """What an application does during an outage: retry sends that raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await layer.send(channel, message)
            return
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.mark.uvloop
async def test_killed_connection_comes_back_with_the_same_channels(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """After the broker closes every connection, the layer reconnects by itself; channel
    names handed out before stay valid and a pending receive() gets the next message."""
    owner, sender = make_own_layer(), make_own_layer()
    channel = await owner.new_channel()
    await sender.send(channel, {"type": "before"})
    assert (await receive(owner, channel))["type"] == "before"
    pending = asyncio.ensure_future(owner.receive(channel))
    generation = owner._state().link.generation

    own_rabbitmq.close_all_connections()
    await reconnected_since(owner, generation)
    await wait_reconnected(sender)
    await send_with_retry(sender, channel, {"type": "after"})
    assert (await asyncio.wait_for(pending, 10))["type"] == "after"


async def test_normal_channel_receiver_resumes_after_killed_connection(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """A worker blocked in receive() on a normal channel gets messages sent after an outage."""
    worker, sender = make_own_layer(), make_own_layer()
    await sender.send("resume-work", {"type": "warm"})
    assert (await receive(worker, "resume-work"))["type"] == "warm"
    pending = asyncio.ensure_future(worker.receive("resume-work"))
    await asyncio.sleep(0.1)
    own_rabbitmq.close_all_connections()
    await asyncio.sleep(0.5)
    await wait_reconnected(worker, sender)
    await send_with_retry(sender, "resume-work", {"type": "after"})
    assert (await asyncio.wait_for(pending, 10))["type"] == "after"


async def test_deleted_inbox_is_declared_again(own_rabbitmq, make_own_layer: LayerFactory
                                               ) -> None:
    """An inbox queue deleted on the broker (by hand, say) does not silence the process's
    channels and groups for good: the layer reconnects, declares the inbox again under its
    name, binds its groups, and receives what is sent afterwards."""
    owner, sender = make_own_layer(), make_own_layer()
    channel = await owner.new_channel()
    await owner.group_add("room", channel)
    await sender.send(channel, {"type": "warm"})
    assert (await receive(owner, channel))["type"] == "warm"
    generation = owner._state().link.generation
    own_rabbitmq.ctl("delete_queue", owner._state().inbox.queue)
    await reconnected_since(owner, generation)
    await sender.send(channel, {"type": "direct"})
    await sender.group_send("room", {"type": "group"})
    assert {(await receive(owner, channel))["type"] for _ in range(2)} == {"direct", "group"}


async def test_deleted_normal_channel_queue_is_declared_again(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """A worker waiting in receive() on a normal channel whose queue was deleted on the
    broker declares it again and gets what is sent afterwards."""
    worker, sender = make_own_layer(), make_own_layer()
    await sender.send("deleted-work", {"type": "warm"})
    assert (await receive(worker, "deleted-work"))["type"] == "warm"
    pending = asyncio.ensure_future(worker.receive("deleted-work"))
    await asyncio.sleep(0.1)
    generation = worker._state().link.generation
    own_rabbitmq.ctl("delete_queue", channel_queue(worker.prefix, "deleted-work"))
    await reconnected_since(worker, generation)
    await sender.send("deleted-work", {"type": "after"})
    assert (await asyncio.wait_for(pending, 10))["type"] == "after"


async def test_send_to_a_deleted_normal_channel_queue_declares_it_again(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """A normal channel's queue deleted on the broker after this process declared it: the
    broker returns the next send (routed nowhere), which declares the queue again and is
    sent once more; nothing is lost or counted as dropped."""
    sender = make_own_layer()
    await sender.send("resent-work", {"type": "job", "n": 1})
    own_rabbitmq.ctl("delete_queue", channel_queue(sender.prefix, "resent-work"))
    for n in (2, 3):
        await sender.send("resent-work", {"type": "job", "n": n})
    worker = make_own_layer()
    assert [(await receive(worker, "resent-work"))["n"] for _ in range(2)] == [2, 3]
    assert not sender.stats.dropped and sender.stats.sent == 3


async def test_concurrent_sends_to_a_deleted_normal_channel_queue_all_arrive(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """Many sends in flight at once to a queue deleted on the broker: each returned one is
    told apart from the others and sent again, so every message arrives exactly once."""
    sender = make_own_layer()
    await sender.send("resent-many", {"type": "job", "n": 0})
    own_rabbitmq.ctl("delete_queue", channel_queue(sender.prefix, "resent-many"))
    await asyncio.gather(*(sender.send("resent-many", {"type": "job", "n": n})
                           for n in range(1, 31)))
    worker = make_own_layer()
    received = [(await receive(worker, "resent-many"))["n"] for _ in range(30)]
    assert sorted(received) == list(range(1, 31))
    assert not sender.stats.dropped and sender.stats.sent == 31


async def test_deleted_group_router_is_declared_again_without_a_reconnect(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """The groups router deleted on the broker (by hand, say): the next group_send declares
    it again instead of failing, without reconnecting (a reconnect costs the inbox what
    waits in it on the broker), and so does the next group_add; groups work again."""
    member, sender = make_own_layer(), make_own_layer()
    await sender.group_send("warm", {"type": "warm"})
    await member.group_add("warm", await member.new_channel())
    generations = [layer._state().link.generation for layer in (member, sender)]
    router = group_router(sender.prefix)
    own_rabbitmq.management("DELETE", f"/api/exchanges/%2F/{router}")
    await sender.group_send("nobody", {"type": "lost"})
    own_rabbitmq.management("DELETE", f"/api/exchanges/%2F/{router}")
    channel = await member.new_channel()
    await member.group_add("after", channel)
    await sender.group_send("after", {"type": "hello"})
    assert (await receive(member, channel))["type"] == "hello"
    assert [layer._state().link.generation for layer in (member, sender)] == generations


async def test_idle_worker_declares_a_deleted_queue_again(own_rabbitmq,
                                                          make_own_layer: LayerFactory) -> None:
    """A worker whose consumer was released (idle) and whose normal channel's queue was
    then deleted on the broker declares it again on its next receive, instead of failing."""
    worker, sender = make_own_layer(), make_own_layer()
    await sender.send("idle-work", {"type": "warm"})
    assert (await receive(worker, "idle-work"))["type"] == "warm"
    await asyncio.sleep(IDLE_RELEASE + 0.5)
    own_rabbitmq.ctl("delete_queue", channel_queue(worker.prefix, "idle-work"))
    pending = asyncio.ensure_future(worker.receive("idle-work"))
    await sender.send("idle-work", {"type": "after"})
    assert (await asyncio.wait_for(pending, 10))["type"] == "after"


async def test_send_during_outage_fails_within_send_timeout(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """With the broker down, send() raises BrokerUnavailable after about send_timeout."""
    layer = make_own_layer(send_timeout=1.0)
    await layer.send("outage", {"type": "warm"})
    own_rabbitmq.stop_app()
    try:
        await asyncio.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="RabbitMQ unavailable"):
            await layer.send("outage", {"type": "lost"})
        assert time.monotonic() - started < 3.0
    finally:
        own_rabbitmq.start_app()


async def test_send_to_a_frozen_broker_fails_within_send_timeout(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """A broker that stops answering but keeps the socket open (hung, or cut off by the
    network) never confirms: send() still gives up after about send_timeout, and the
    layer sends again once the broker answers."""
    owner, sender = make_own_layer(), make_own_layer(send_timeout=1.0)
    channel = await owner.new_channel()
    await sender.send(channel, {"type": "warm"})
    with own_rabbitmq.frozen():
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="send_timeout"):
            await sender.send(channel, {"type": "unconfirmed"})
        waited = time.monotonic() - started
    assert 0.9 <= waited < 2.0
    await send_with_retry(sender, channel, {"type": "after"})
    received = [(await receive(owner, channel))["type"] for _ in range(2)]
    # The unconfirmed message may still have reached the broker: at-most-once, not lost
    # for sure; what was sent afterwards arrives after it.
    assert received[0] == "warm"
    assert received[1] in {"unconfirmed", "after"}


async def test_send_while_the_broker_blocks_publishers(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """A broker short of memory blocks publishing connections (Connection.Blocked): each
    send() gives up after about send_timeout instead of hanging, receiving goes on, and
    sends go through again once the alarm clears."""
    owner, sender = make_own_layer(), make_own_layer(send_timeout=1.0)
    channel = await owner.new_channel()
    await sender.send(channel, {"type": "warm"})
    assert (await receive(owner, channel))["type"] == "warm"
    with own_rabbitmq.memory_alarm():
        for attempt in range(2):  # the first publish meets the alarm, the next the block
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable, match=r"blocking publishers \(low on memory\)"):
                await sender.send(channel, {"type": "blocked", "attempt": attempt})
            assert time.monotonic() - started < 2.0
        pending = asyncio.ensure_future(owner.receive(channel))
    await send_with_retry(sender, channel, {"type": "after"})
    received = [(await asyncio.wait_for(pending, 10))["type"]]
    while received[-1] != "after":
        received.append((await receive(owner, channel))["type"])
    # What was refused may still have reached the broker (at most once), before "after".
    assert set(received) <= {"blocked", "after"} and received.count("blocked") <= 2


async def test_message_over_the_brokers_size_limit(own_rabbitmq, make_own_layer: LayerFactory
                                                  ) -> None:
    """A message within the layer's max_message_size but over the broker's own limit is
    refused by RabbitMQ: send() raises MessageTooLarge, and the process keeps its
    connection (a reconnect would cost its inbox what waits in it), so it sends and
    receives on as before."""
    with own_rabbitmq.max_message_size(1024 * 1024):
        owner, sender = make_own_layer(), make_own_layer()
        to_owner, to_sender = await owner.new_channel(), await sender.new_channel()
        generation = sender._state().link.generation
        with pytest.raises(MessageTooLarge, match="max size"):
            await sender.send(to_owner, {"type": "big", "data": "x" * 1_500_000})
        await owner.send(to_sender, {"type": "to sender"})
        await sender.send(to_owner, {"type": "after"})
        assert (await receive(owner, to_owner))["type"] == "after"
        assert (await receive(sender, to_sender))["type"] == "to sender"
        assert sender._state().link.generation == generation


async def test_broker_restart_in_mid_stream(own_rabbitmq, make_own_layer: LayerFactory
                                           ) -> None:
    """A stream of messages continues across a broker restart: the receiver keeps its
    channel, gets everything sent after the restart, and no message arrives twice."""
    owner, sender = make_own_layer(), make_own_layer()
    channel = await owner.new_channel()
    received: list[int] = []

    async def read() -> None:
        while True:
            received.append((await owner.receive(channel))["i"])

    reader = asyncio.ensure_future(read())
    for i in range(50):
        await sender.send(channel, {"type": "n", "i": i})
    own_rabbitmq.stop_app()
    own_rabbitmq.start_app()
    for i in range(50, 100):
        await send_with_retry(sender, channel, {"type": "n", "i": i})
    async with asyncio.timeout(20):
        while len(received) < 100 and (not received or received[-1] != 99):
            await asyncio.sleep(0.05)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    assert len(received) == len(set(received))  # nothing twice
    assert set(range(50, 100)) <= set(received)  # everything sent after the restart
    assert received == sorted(received)  # in order
