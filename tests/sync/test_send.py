"""The sync publisher's send and group_send reach async layers, here and in other processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import pytest
from channels.exceptions import ChannelFull, MessageTooLarge

from amqp_channels import AMQPChannelLayer
from amqp_channels.layer.naming import channel_queue, group_router
from tests.conftest import LayerFactory
from tests.helpers import receive, receives_nothing
from tests.sync.conftest import PublisherFactory

SPAWN = multiprocessing.get_context("spawn")


def _member(url: str, prefix: str, group: str | None, results: Any) -> None:
    """In another process: make a channel (joining ``group`` if given), report its name,
    then report the first message it receives."""

    async def run() -> None:
        layer = AMQPChannelLayer(hosts=[url], prefix=prefix)
        channel = await layer.new_channel()
        if group is not None:
            await layer.group_add(group, channel)
        results.put(channel)
        try:
            results.put(await asyncio.wait_for(layer.receive(channel), 15))
        finally:
            await layer.close()

    asyncio.run(run())


async def _in_child(url: str, prefix: str, group: str | None
                    ) -> tuple[multiprocessing.process.BaseProcess, Any, str]:
    results = SPAWN.Queue()
    child = SPAWN.Process(target=_member, args=(url, prefix, group, results))
    child.start()
    channel = await asyncio.to_thread(results.get, True, 20)
    return child, results, channel


async def _child_result(child: multiprocessing.process.BaseProcess, results: Any) -> Any:
    message = await asyncio.to_thread(results.get, True, 20)
    await asyncio.to_thread(child.join, 10)
    assert child.exitcode == 0
    return message


async def test_send_reaches_a_process_specific_channel_in_this_process(
        make_layer: LayerFactory, make_publisher: PublisherFactory) -> None:
    """A sync send to a channel from new_channel() is received by that layer."""
    layer, publisher = make_layer(), make_publisher()
    channel = await layer.new_channel()
    await asyncio.to_thread(publisher.send, channel, {"type": "hello", "b": b"\x00\x01"})
    assert await receive(layer, channel) == {"type": "hello", "b": b"\x00\x01"}


async def test_send_reaches_a_normal_channel(
        make_layer: LayerFactory, make_publisher: PublisherFactory) -> None:
    """A sync send to a normal channel declares its queue; a worker receives it."""
    layer, publisher = make_layer(), make_publisher()
    await asyncio.to_thread(publisher.send, "jobs", {"type": "job", "n": 1})
    assert await receive(layer, "jobs") == {"type": "job", "n": 1}


async def test_send_after_its_queue_was_deleted_declares_it_again(
        rabbitmq, prefix: str, make_layer: LayerFactory,
        make_publisher: PublisherFactory) -> None:
    """A normal channel's queue deleted on the broker after the publisher declared it:
    the broker returns the next send, which declares the queue again and sends once more;
    nothing is lost or counted as dropped."""
    layer, publisher = make_layer(), make_publisher()
    await asyncio.to_thread(publisher.send, "gone-jobs", {"type": "job", "n": 1})
    assert await receive(layer, "gone-jobs") == {"type": "job", "n": 1}
    await asyncio.to_thread(rabbitmq.ctl, "delete_queue", channel_queue(prefix, "gone-jobs"))
    for n in (2, 3):
        await asyncio.to_thread(publisher.send, "gone-jobs", {"type": "job", "n": n})
    assert [(await receive(layer, "gone-jobs"))["n"] for _ in range(2)] == [2, 3]
    assert not publisher.stats.dropped


async def test_group_send_after_the_router_was_deleted_declares_it_again(
        rabbitmq, prefix: str, make_layer: LayerFactory,
        make_publisher: PublisherFactory) -> None:
    """The groups router deleted on the broker after the publisher declared it: the next
    group_send declares it again and succeeds, and members joining from then on get it."""
    layer, publisher = make_layer(), make_publisher()
    await asyncio.to_thread(publisher.group_send, "warm", {"type": "warm"})
    await asyncio.to_thread(rabbitmq.management, "DELETE",
                            f"/api/exchanges/%2F/{group_router(prefix)}")
    await asyncio.to_thread(publisher.group_send, "nobody", {"type": "lost"})
    channel = await layer.new_channel()
    await layer.group_add("after", channel)
    await asyncio.to_thread(publisher.group_send, "after", {"type": "hello"})
    assert (await receive(layer, channel))["type"] == "hello"
    assert not publisher.stats.dropped


async def test_send_to_a_gone_process_is_counted_as_dropped(
        make_layer: LayerFactory, make_publisher: PublisherFactory) -> None:
    """A process-specific channel whose process is gone: the send succeeds, the broker
    returns the message, and the publisher counts it (it is not sent again)."""
    layer, publisher = make_layer(), make_publisher()
    channel = await layer.new_channel()
    await layer.close()
    await asyncio.to_thread(publisher.send, channel, {"type": "lost"})
    assert publisher.stats.dropped == {"unroutable": 1}


@pytest.mark.slow
async def test_send_reaches_a_layer_in_another_process(
        rabbitmq, prefix: str, make_publisher: PublisherFactory) -> None:
    """A channel made by a layer in another OS process receives a sync send."""
    child, results, channel = await _in_child(rabbitmq.url, prefix, None)
    await asyncio.to_thread(make_publisher().send, channel, {"type": "x.proc", "n": 7})
    assert await _child_result(child, results) == {"type": "x.proc", "n": 7}


@pytest.mark.slow
async def test_group_send_reaches_members_in_two_processes(
        rabbitmq, prefix: str, make_layer: LayerFactory,
        make_publisher: PublisherFactory) -> None:
    """group_send fans out to a member here and a member in another process."""
    layer = make_layer()
    here = await layer.new_channel()
    await layer.group_add("room", here)
    child, results, _there = await _in_child(rabbitmq.url, prefix, "room")
    await asyncio.sleep(0.3)  # the child's group_add binds before it reports; margin only
    await asyncio.to_thread(make_publisher().group_send, "room", {"type": "chat", "t": "hi"})
    assert await receive(layer, here) == {"type": "chat", "t": "hi"}
    assert await _child_result(child, results) == {"type": "chat", "t": "hi"}


async def test_group_send_to_an_empty_group_is_a_no_op(
        make_publisher: PublisherFactory) -> None:
    """A group nobody joined, before any layer connected, routes nowhere and raises nothing."""
    await asyncio.to_thread(make_publisher().group_send, "nobody", {"type": "void"})


async def test_send_to_a_full_channel_raises_channel_full(
        make_layer: LayerFactory, make_publisher: PublisherFactory) -> None:
    """With capacity 1 and no receiver, the second send is nacked: ChannelFull."""
    publisher = make_publisher(capacity=1)
    await asyncio.to_thread(publisher.send, "full", {"type": "first"})
    with pytest.raises(ChannelFull):
        await asyncio.to_thread(publisher.send, "full", {"type": "second"})
    layer = make_layer(capacity=1)
    assert await receive(layer, "full") == {"type": "first"}
    assert await receives_nothing(layer, "full")


@pytest.mark.parametrize("verb", ["send", "group_send"])
async def test_too_large_message_raises_before_sending(
        make_publisher: PublisherFactory, verb: str) -> None:
    """A message over max_message_size raises MessageTooLarge, as in the layer."""
    publisher = make_publisher(max_message_size=1000)
    with pytest.raises(MessageTooLarge):
        getattr(publisher, verb)("big", {"type": "big", "blob": b"x" * 2000})


@pytest.mark.parametrize(("verb", "name"), [
    pytest.param("send", "bad name", id="channel-with-space"),
    pytest.param("send", "x" * 200, id="channel-too-long"),
    pytest.param("send", 42, id="channel-not-a-string"),
    pytest.param("group_send", "bad!group", id="group-with-bang"),
    pytest.param("group_send", "g" * 200, id="group-too-long"),
])
def test_invalid_names_raise_type_error(make_publisher: PublisherFactory, verb: str,
                                        name: Any) -> None:
    """Channels' name rules apply, with the layer's TypeError, before any connection."""
    with pytest.raises(TypeError):
        getattr(make_publisher(), verb)(name, {"type": "x"})


def test_non_dict_message_raises_type_error(make_publisher: PublisherFactory) -> None:
    """Messages are checked by the layer's codec: a list is not a message."""
    with pytest.raises(TypeError):
        make_publisher().send("jobs", ["not", "a", "dict"])  # type: ignore[arg-type]
