"""Broker refusals close the channel with a specific error; the connection survives."""

from __future__ import annotations

import asyncio

import pytest

from amqp_channels.amqp import Connection, Delivery
from amqp_channels.amqp.errors import ChannelClosed, NotFound, PreconditionFailed, ResourceLocked

from .conftest import Connect


async def test_redeclare_with_other_arguments_raises_precondition_failed(
        connection: Connection, prefix: str) -> None:
    """A re-declare with different arguments raises PreconditionFailed; a new channel works."""
    channel = await connection.channel()
    name = f"{prefix}.pf"
    await channel.queue_declare(name, exclusive=True, arguments={"x-max-length": 10})
    with pytest.raises(PreconditionFailed) as caught:
        await channel.queue_declare(name, exclusive=True, arguments={"x-max-length": 20})
    assert caught.value.reply_code == 406 and "x-max-length" in caught.value.reply_text
    assert channel.is_closed and not connection.is_closed
    with pytest.raises(ChannelClosed):
        await channel.queue_purge(name)

    fresh = await connection.channel(publisher_confirms=True)
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    await fresh.basic_consume(name, received.put_nowait, no_ack=True)
    await fresh.basic_publish(b"still works", routing_key=name)
    assert (await asyncio.wait_for(received.get(), 10)).body == b"still works"
    await fresh.queue_delete(name)


async def test_exclusive_queue_of_another_connection_raises_resource_locked(
        open_connection: Connect, prefix: str) -> None:
    """Declaring someone else's exclusive queue raises ResourceLocked (405)."""
    owner = await (await open_connection()).channel()
    await owner.queue_declare(f"{prefix}.mine", exclusive=True)
    other = await (await open_connection()).channel()
    with pytest.raises(ResourceLocked):
        await other.queue_declare(f"{prefix}.mine", exclusive=True)


async def test_passive_declare_of_missing_queue_raises_not_found(
        connection: Connection, prefix: str) -> None:
    channel = await connection.channel()
    with pytest.raises(NotFound):
        await channel.queue_declare(f"{prefix}.missing", passive=True)


async def test_topology_verbs_round_trip(connection: Connection, prefix: str) -> None:
    """Exchanges and bindings route a message from a topic exchange to a queue."""
    channel = await connection.channel(publisher_confirms=True)
    queue, source, middle = f"{prefix}.q", f"{prefix}.src", f"{prefix}.mid"
    await channel.exchange_declare(source, "topic", auto_delete=False)
    await channel.exchange_declare(middle, "fanout")
    await channel.exchange_bind(middle, source, "a.*")
    await channel.queue_declare(queue, exclusive=True)
    await channel.queue_bind(queue, middle)
    await channel.basic_publish(b"routed", exchange=source, routing_key="a.b")
    await channel.basic_publish(b"dropped", exchange=source, routing_key="b.b")

    async def ready() -> int:
        return (await channel.queue_declare(queue, passive=True))[0]

    for _ in range(100):
        if await ready() == 1:
            break
        await asyncio.sleep(0.02)
    assert await channel.queue_purge(queue) == 1
    await channel.queue_unbind(queue, middle)
    await channel.exchange_unbind(middle, source, "a.*")
    await channel.exchange_delete(middle)
    await channel.exchange_delete(source)
    assert await channel.queue_delete(queue) == 0


async def test_rpc_timeout_raises_and_the_late_reply_is_not_misrouted(
        connection: Connection, prefix: str) -> None:
    """A call not answered in time raises TimeoutError; its late reply is dropped."""
    channel = await connection.channel(publisher_confirms=True)
    full, empty = f"{prefix}.full", f"{prefix}.empty"
    await channel.queue_declare(full, exclusive=True)
    await channel.queue_declare(empty, exclusive=True)
    await channel.basic_publish(b"x", routing_key=full)
    with pytest.raises(TimeoutError):
        await channel.queue_declare(full, exclusive=True, timeout=0)
    # the reply about `empty`, not the late one about `full`:
    assert await channel.queue_declare(empty, exclusive=True) == (0, 0)
    assert await channel.queue_delete(full) == 1
    await channel.queue_delete(empty)


async def test_failed_nowait_method_surfaces_on_the_next_call(connection: Connection,
                                                              prefix: str) -> None:
    """A pipelined (nowait) bind to a missing exchange closes the channel; the next awaited
    call raises NotFound."""
    channel = await connection.channel()
    await channel.queue_declare(f"{prefix}.nw", exclusive=True)
    channel.queue_bind_nowait(f"{prefix}.nw", f"{prefix}.no-such-exchange")
    with pytest.raises(NotFound):
        await channel.queue_declare(f"{prefix}.nw", exclusive=True)


async def test_unanswered_unbind_takes_effect_before_the_next_call(connection: Connection,
                                                                   prefix: str) -> None:
    """queue_unbind_nowait returns at once; the next awaited call on the channel sees it
    done (the auto-delete exchange is gone), and the dropped UnbindOk answers nothing."""
    channel = await connection.channel()
    queue, exchange = f"{prefix}.uq", f"{prefix}.ux"
    await channel.queue_declare(queue, exclusive=True)
    await channel.exchange_declare(exchange, "fanout", auto_delete=True)
    await channel.queue_bind(queue, exchange)
    await channel.queue_unbind_nowait(queue, exchange)
    assert await channel.queue_declare(queue, exclusive=True) == (0, 0)
    with pytest.raises(NotFound):
        await channel.exchange_declare(exchange, "fanout", passive=True)


async def test_pipelined_declare_and_bind_take_effect(connection: Connection,
                                                      prefix: str) -> None:
    """nowait declare + bind, then one awaited call: the binding routes messages."""
    channel = await connection.channel()
    queue, exchange = f"{prefix}.pq", f"{prefix}.px"
    await channel.queue_declare(queue, exclusive=True)
    channel.exchange_declare_nowait(exchange, "fanout", auto_delete=True)
    channel.queue_bind_nowait(queue, exchange)
    await channel.queue_declare(queue, exclusive=True)  # a sync point after the casts
    received: asyncio.Queue[Delivery] = asyncio.Queue()
    await channel.basic_consume(queue, received.put_nowait, no_ack=True)
    await channel.basic_publish(b"x", exchange=exchange, routing_key="")
    assert (await asyncio.wait_for(received.get(), 5)).body == b"x"
