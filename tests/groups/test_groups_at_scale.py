"""Groups across processes and outages: big groups, reconnects, other AMQP clients."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import aio_pika
import msgpack
import pytest

from amqp_channels import AMQPChannelLayer
from tests.conftest import LayerFactory
from tests.helpers import receive, reconnected_since

pytestmark = pytest.mark.slow
MEMBERS_PER_PROCESS = 500


def _member_process(url: str, prefix: str, ready: Any, results: Any) -> None:
    """Join MEMBERS_PER_PROCESS channels to a group; report what each one received first
    and second (a duplicate of the broadcast would show up before the end marker)."""
    async def run() -> None:
        layer = AMQPChannelLayer(hosts=[url], prefix=prefix, capacity=10)
        channels = [await layer.new_channel() for _ in range(MEMBERS_PER_PROCESS)]
        for channel in channels:
            await layer.group_add("big", channel)
        ready.put("ready")
        for _round in range(2):
            got = [(await asyncio.wait_for(layer.receive(c), 30))["type"] for c in channels]
            results.put(got)
        await layer.close()

    asyncio.run(run())


async def test_thousand_members_across_two_processes_each_receive_once(
        rabbitmq, make_layer: LayerFactory, prefix: str) -> None:
    """One group_send to 1000 members spread over two processes reaches each exactly once."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    processes = [context.Process(target=_member_process,
                                 args=(rabbitmq.url, prefix, ready, results))
                 for _ in range(2)]
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(ready.get, True, 60)
    sender = make_layer()
    await sender.group_send("big", {"type": "broadcast"})
    first = [await asyncio.to_thread(results.get, True, 60) for _ in processes]
    await sender.group_send("big", {"type": "end"})
    second = [await asyncio.to_thread(results.get, True, 60) for _ in processes]
    for process in processes:
        await asyncio.to_thread(process.join, 30)
        assert process.exitcode == 0
    assert first[0] + first[1] == ["broadcast"] * 2 * MEMBERS_PER_PROCESS
    assert second[0] + second[1] == ["end"] * 2 * MEMBERS_PER_PROCESS


async def test_memberships_survive_a_killed_connection(own_rabbitmq,
                                                       make_own_layer: LayerFactory) -> None:
    """After the broker closes every connection, group messages flow again without the
    consumers doing anything."""
    owner, sender = make_own_layer(), make_own_layer()
    channel = await owner.new_channel()
    await owner.group_add("survivor", channel)
    generation = owner._state().link.generation
    own_rabbitmq.close_all_connections()
    await reconnected_since(owner, generation)
    await sender._state().link.ready(20)
    await sender.group_send("survivor", {"type": "after"})
    assert (await receive(owner, channel))["type"] == "after"


async def test_memberships_survive_a_broker_restart(own_rabbitmq,
                                                    make_own_layer: LayerFactory) -> None:
    """After a broker restart the group exchange and bindings are back."""
    owner, sender = make_own_layer(), make_own_layer()
    channel = await owner.new_channel()
    await owner.group_add("restart", channel)
    own_rabbitmq.stop_app()
    own_rabbitmq.start_app()
    async with asyncio.timeout(30):
        while True:
            try:
                await sender.group_send("restart", {"type": "after"})
                got = await asyncio.wait_for(owner.receive(channel), 1)
                break
            except (TimeoutError, ConnectionError):
                await asyncio.sleep(0.2)
    assert got["type"] == "after"


async def test_normal_channel_memberships_survive_a_broker_restart(
        own_rabbitmq, make_own_layer: LayerFactory) -> None:
    """A normal channel added to a group is bound again after a broker restart (its
    durable queue survives; the transient group exchange does not), by the process that
    added it."""
    adder, worker = make_own_layer(), make_own_layer()
    await adder.group_add("restart-normal", "restart-work")
    await adder.group_send("restart-normal", {"type": "before"})
    assert (await receive(worker, "restart-work"))["type"] == "before"
    generation = adder._state().link.generation
    own_rabbitmq.stop_app()
    own_rabbitmq.start_app()
    await reconnected_since(adder, generation, timeout=30)
    await worker._state().link.ready(20)
    await adder.group_send("restart-normal", {"type": "after"})
    assert (await receive(worker, "restart-work"))["type"] == "after"


async def test_plain_amqp_client_publishes_into_a_group(rabbitmq, layer: AMQPChannelLayer,
                                                        prefix: str) -> None:
    """A non-Channels service publishes to {prefix}.groups with the group as routing key
    and the asgi-group header (docs/wire-format.md); members receive it."""
    channel = await layer.new_channel()
    await layer.group_add("news", channel)
    connection = await aio_pika.connect(rabbitmq.url)
    async with connection:
        amqp = await connection.channel()
        exchange = await amqp.get_exchange(f"{prefix}.groups", ensure=False)
        await exchange.publish(
            aio_pika.Message(msgpack.packb({"type": "news.flash", "n": 1}),
                             content_type="application/msgpack",
                             headers={"asgi-group": "news", "asgi-schema": 1}),
            routing_key="news",
        )
    assert await receive(layer, channel) == {"type": "news.flash", "n": 1}
