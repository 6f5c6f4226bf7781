"""The layer across event loops: settings-time construction, async_to_sync, loop shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time

import pytest
from asgiref.sync import async_to_sync

from amqp_channels import AMQPChannelLayer
from amqp_channels.errors import ForeignChannel
from tests.conftest import LayerFactory
from tests.helpers import in_thread, layer_connections, receive


def test_constructible_without_a_running_loop() -> None:
    """Django builds layers while loading settings, with no event loop running."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    AMQPChannelLayer(hosts=["amqp://guest:guest@127.0.0.1:1/"])


async def test_async_to_sync_from_threads_each_on_a_fresh_loop(
        make_layer: LayerFactory, rabbitmq, prefix: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """async_to_sync works call after call from plain threads, each call on a new loop that
    makes its own state (a channel, a send, a receive); every loop's connection is closed
    with it and no task is destroyed pending."""
    receiver = make_layer()
    channel = await receiver.new_channel()
    shared = make_layer()  # one layer object used from many loops, as Django does
    errors: list[BaseException] = []

    async def round_trip(n: int, i: int) -> None:
        await shared.send("loops-normal", {"type": "y"})  # a loop's first call is relayed
        own = await shared.new_channel()  # the second makes the loop's own state
        await shared.send(own, {"type": "self"})
        assert (await receive(shared, own))["type"] == "self"
        await shared.send(channel, {"type": "x", "n": n, "i": i})

    def worker(n: int) -> None:
        try:
            for i in range(5):
                async_to_sync(round_trip)(n, i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            await asyncio.sleep(0.05)
        gc.collect()
    assert not errors
    got = sorted([(await receive(receiver, channel))["n"] for _ in range(15)])
    assert got == [0] * 5 + [1] * 5 + [2] * 5
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]
    # Every per-loop state went away with its loop; the relay's stays until close().
    assert list(shared._states) == [shared._relay._loop]
    await shared.close()
    assert not shared._states
    deadline = time.monotonic() + 5
    while layer_connections(rabbitmq, prefix) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # the broker notices closed sockets asynchronously
    assert layer_connections(rabbitmq, prefix) == 1  # only the receiver's


async def test_one_layer_serves_two_loops_at_once(make_layer: LayerFactory) -> None:
    """A layer used from another thread's loop keeps working on the main loop too."""
    layer = make_layer()
    channel = await layer.new_channel()
    result: list[str] = []

    def other_thread() -> None:
        async def use() -> None:
            other = await layer.new_channel()
            await layer.send(other, {"type": "self"})
            result.append((await asyncio.wait_for(layer.receive(other), 10))["type"])
            await layer.send(channel, {"type": "cross"})
        asyncio.run(use())

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert (await receive(layer, channel))["type"] == "cross"
    thread.join(10)
    assert result == ["self"]


async def test_receive_from_another_loop(make_layer: LayerFactory) -> None:
    """A live loop of the layer can receive, in order, on a channel another of its loops
    made (the receive runs on the owner's loop)."""
    layer = make_layer()
    channel = await layer.new_channel()
    for i in range(3):
        await layer.send(channel, {"type": "x", "i": i})
    got: list[int] = []

    async def take() -> None:
        for _ in range(3):
            got.append((await receive(layer, channel))["i"])

    await in_thread(lambda: asyncio.run(take()))
    assert got == [0, 1, 2]


async def test_receive_from_another_loop_cancelled_after_the_take_loses_nothing(
        make_layer: LayerFactory) -> None:
    """The race that matters: the owner's loop took the message for a receive whose caller
    is cancelled before it is handed over; the message goes back, first in line."""
    layer = make_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "first"})
    await layer.send(channel, {"type": "second"})

    async def give_up() -> None:
        pending = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0)  # the receive is handed to the owner's loop
        time.sleep(0.3)  # noqa: ASYNC251 - on purpose: busy while the owner takes "first"
        pending.cancel()  # ... and the caller gives up before it is handed over
        with pytest.raises(asyncio.CancelledError):
            await pending

    await in_thread(lambda: asyncio.run(give_up()))
    assert [(await receive(layer, channel))["type"] for _ in range(2)] == ["first", "second"]


async def test_receive_on_a_channel_of_an_ended_loop_is_refused(
        make_layer: LayerFactory) -> None:
    """A channel made by a loop that has ended has no inbox any more: ForeignChannel."""
    layer = make_layer()
    made: list[str] = []

    async def make() -> None:
        await layer.send("ended-loop", {"type": "warm"})  # a second call: its own state
        made.append(await layer.new_channel())

    await in_thread(lambda: asyncio.run(make()))
    with pytest.raises(ForeignChannel):
        await layer.receive(made[0])


async def test_close_then_use_again(make_layer: LayerFactory) -> None:
    """After close() the layer can be used again on the same loop (a new connection)."""
    layer = make_layer()
    await layer.send("reuse", {"type": "a"})
    await layer.close()
    await layer.send("reuse", {"type": "b"})
    assert [(await receive(layer, "reuse"))["type"] for _ in range(2)] == ["a", "b"]


def test_a_stopped_unclosed_loop_is_closed_at_exit(rabbitmq, prefix: str) -> None:
    """What Daphne leaves on SIGTERM: a loop stopped with the layer's link task pending.
    The exit hook closes that connection on its own loop (the broker sees it go)."""
    from amqp_channels.layer.at_exit import close_left_over

    layer = AMQPChannelLayer(hosts=[rabbitmq.url], prefix=prefix)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(layer.new_channel())  # connected; the loop stops, unclosed
        assert layer_connections(rabbitmq, prefix) == 1
        close_left_over()
        assert layer_connections(rabbitmq, prefix) == 0
        assert not loop.is_closed()  # the loop's owner closes it, not the hook
    finally:
        loop.close()
