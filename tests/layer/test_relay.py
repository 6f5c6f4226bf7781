"""The relay: publishes from short-lived loops (async_to_sync in plain threads) share one
connection, behave like any send, and leave nothing behind."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import multiprocessing
import subprocess
import sys
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull

from amqp_channels import AMQPChannelLayer, BrokerUnavailable
from amqp_channels.layer.core import buffered
from amqp_channels.layer.relay import Relay
from tests.conftest import LayerFactory
from tests.helpers import in_thread, layer_connections, receive, receives_nothing, wait_until


def _relay_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("amqp-channels relay")]


async def test_async_to_sync_sends_share_one_connection(
        make_layer: LayerFactory, rabbitmq, prefix: str) -> None:
    """Thirty async_to_sync sends from three threads, each on its own loop, arrive in order
    per thread over a single relay connection, which close() takes away."""
    receiver = make_layer()
    channel = await receiver.new_channel()
    shared = make_layer()

    def worker(n: int) -> None:
        for i in range(5):
            async_to_sync(shared.send)(channel, {"type": "x", "n": n, "i": i})
            async_to_sync(shared.group_send)("relay-group", {"type": "g"})

    await asyncio.gather(*(in_thread(lambda n=n: worker(n)) for n in range(3)))
    got = [(await receive(receiver, channel)) for _ in range(15)]
    for n in range(3):
        assert [m["i"] for m in got if m["n"] == n] == list(range(5))
    assert layer_connections(rabbitmq, prefix) == 2  # the receiver's and the relay's
    assert len(_relay_threads()) == 1
    await shared.close()
    assert not _relay_threads()
    deadline = time.monotonic() + 5
    while layer_connections(rabbitmq, prefix) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert layer_connections(rabbitmq, prefix) == 1


async def test_relayed_group_send_reaches_members(make_layer: LayerFactory) -> None:
    """A group_send relayed from a short-lived loop reaches members in another process's
    loop, like any group_send."""
    member_layer = make_layer()
    member = await member_layer.new_channel()
    await member_layer.group_add("relayed", member)
    sender = make_layer()
    await in_thread(lambda: async_to_sync(sender.group_send)("relayed", {"type": "hello"}))
    assert (await receive(member_layer, member))["type"] == "hello"


async def test_relayed_send_raises_channel_full(make_layer: LayerFactory) -> None:
    """A relayed send to a full channel raises ChannelFull in the caller's thread."""
    layer = make_layer(capacity=1)
    await layer.flush()
    outcome: list[str] = []

    def sends() -> None:
        async_to_sync(layer.send)("relay-full", {"type": "first"})
        try:
            async_to_sync(layer.send)("relay-full", {"type": "second"})
        except ChannelFull:
            outcome.append("full")

    await in_thread(sends)
    assert outcome == ["full"]
    assert (await receive(layer, "relay-full"))["type"] == "first"
    assert await receives_nothing(layer, "relay-full")


async def test_relayed_bad_input_raises_in_the_caller(make_layer: LayerFactory) -> None:
    """Bad input on the relayed path is the same clear error, and nothing is sent."""
    layer = make_layer()

    def bad() -> None:
        with pytest.raises(TypeError):
            async_to_sync(layer.send)("relay-bad", {"type": "x", "value": object()})
        with pytest.raises(TypeError):
            async_to_sync(layer.send)("bad name", {"type": "x"})

    await in_thread(bad)
    assert await receives_nothing(layer, "relay-bad")


async def test_a_loop_that_publishes_again_gets_its_own_state(
        make_layer: LayerFactory) -> None:
    """Only a loop's first publish is relayed: a loop that lives (publishes twice) gets
    its own connection; loops of the main thread are never relayed."""
    layer = make_layer()
    seen: list[bool] = []

    async def twice() -> None:
        loop = asyncio.get_running_loop()
        await layer.send("relay-twice", {"type": "a"})
        seen.append(loop in layer._states)
        await layer.send("relay-twice", {"type": "b"})
        seen.append(loop in layer._states)

    await in_thread(lambda: asyncio.run(twice()))
    assert seen == [False, True]
    await layer.send("relay-twice", {"type": "c"})
    assert asyncio.get_running_loop() in layer._states
    assert [(await receive(layer, "relay-twice"))["type"] for _ in range(3)] == ["a", "b", "c"]


async def test_relay_carries_context_and_cancellation() -> None:
    """The relayed coroutine sees the caller's context variables (the trace context travels
    this way), and cancelling the caller cancels it."""
    relay = Relay("test")
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    cancelled = threading.Event()

    async def read_marker() -> str:
        return marker.get()

    async def wait_forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    try:
        marker.set("caller")
        assert await relay.run(read_marker) == "caller"
        task = asyncio.ensure_future(relay.run(wait_forever))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.get_running_loop().run_in_executor(None, cancelled.wait, 5)
    finally:
        await relay.close()
    assert not _relay_threads()


async def test_a_call_cut_short_by_close_is_not_a_cancellation() -> None:
    """A relayed call whose relay is shut down under it fails with a clear error; the
    caller, which nobody cancelled, does not see CancelledError."""
    relay = Relay("test")

    async def wait_forever() -> None:
        await asyncio.Event().wait()

    call = asyncio.ensure_future(relay.run(wait_forever))
    await asyncio.sleep(0.05)
    await relay.close()
    with pytest.raises(RuntimeError, match="closed during this call"):
        await asyncio.wait_for(call, 5)


def test_relay_closes_its_connection_at_exit(rabbitmq, prefix: str) -> None:
    """A script that sends with async_to_sync and exits without close() still closes the
    relay's connection with a Connection.Close (not a dropped socket)."""
    script = (
        "from asgiref.sync import async_to_sync\n"
        "from amqp_channels import AMQPChannelLayer\n"
        f"layer = AMQPChannelLayer(hosts=[{rabbitmq.url!r}], prefix={prefix!r})\n"
        "async_to_sync(layer.group_send)('exit-group', {'type': 'x'})\n"
        "print('sent', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sent"
    assert "Traceback" not in done.stderr
    records: list[str] = []

    def logged() -> bool:
        records[:] = rabbitmq.closing_records(f"amqp-channels {prefix}.")
        return bool(records)

    wait_until(logged, "the relay connection's closing record in the node log")
    assert len(records) == 1, records
    assert "[info]" in records[0] and "unexpectedly" not in records[0], records[0]


async def test_sync_code_makes_and_reads_its_own_channel(make_layer: LayerFactory) -> None:
    """Sync code can make a channel, hand it out and read the reply, each step its own
    async_to_sync call: the channel lives on the relay's inbox, not on a loop that ends."""
    worker = make_layer()
    layer = make_layer()
    replies: list[str] = []

    def ask() -> None:
        reply_to = async_to_sync(layer.new_channel)()
        async_to_sync(layer.send)("relay-rpc", {"type": "ask", "reply_to": reply_to})
        replies.append(async_to_sync(layer.receive)(reply_to)["type"])

    asking = asyncio.ensure_future(in_thread(ask))
    request = await receive(worker, "relay-rpc")
    await worker.send(request["reply_to"], {"type": "answer"})
    await asyncio.wait_for(asking, 10)
    assert replies == ["answer"]


async def test_sync_receives_on_a_normal_channel_use_the_relay(
        make_layer: LayerFactory, rabbitmq, prefix: str) -> None:
    """Sync code reading a normal channel call after call (``async_to_sync(receive)``, each
    call on a new loop) gets its messages in order from the relay's consumer, instead of
    opening and closing a connection per call."""
    sender, shared = make_layer(), make_layer()
    for n in range(30):
        await sender.send("relay-work", {"type": "job", "n": n})
    got: list[int] = []

    def work() -> None:
        for _ in range(30):
            got.append(async_to_sync(shared.receive)("relay-work")["n"])

    await in_thread(work)
    assert got == list(range(30))
    assert layer_connections(rabbitmq, prefix) == 2  # the sender's and the relay's
    assert not rabbitmq.closing_records(f"amqp-channels {prefix}.")
    assert await receives_nothing(sender, "relay-work")


async def test_a_cancelled_sync_receive_on_a_normal_channel_loses_nothing(
        make_layer: LayerFactory) -> None:
    """A relayed receive given up by its caller leaves nothing behind on the relay: the
    next message goes to the next receive."""
    sender, shared = make_layer(), make_layer()

    async def briefly() -> None:
        await asyncio.wait_for(shared.receive("relay-cancel"), 0.3)

    def give_up() -> None:
        with pytest.raises(TimeoutError):
            async_to_sync(briefly)()

    await in_thread(give_up)
    await sender.send("relay-cancel", {"type": "after"})
    got: list[dict] = []
    await in_thread(lambda: got.append(async_to_sync(shared.receive)("relay-cancel")))
    assert [message["type"] for message in got] == ["after"]


async def test_sync_group_add_of_a_remote_channel(make_layer: LayerFactory) -> None:
    """async_to_sync(group_add) from a view, for a websocket's channel that another process
    owns, goes through the relay and the owner gets the group's messages."""
    daphne = make_layer()
    websocket = await daphne.new_channel()
    view = make_layer()
    await in_thread(lambda: async_to_sync(view.group_add)("relay-user-7", websocket))
    await in_thread(lambda: async_to_sync(view.group_send)("relay-user-7", {"type": "ping"}))
    assert (await receive(daphne, websocket))["type"] == "ping"
    await in_thread(lambda: async_to_sync(view.group_discard)("relay-user-7", websocket))
    await view.group_send("relay-user-7", {"type": "gone"})
    assert await receives_nothing(daphne, websocket)


async def test_sync_flush_clears_what_the_relay_holds(make_layer: LayerFactory) -> None:
    """async_to_sync(flush) drops the messages and memberships held on the relay."""
    layer = make_layer()
    sender = make_layer()
    channel: list[str] = []

    def make() -> None:
        channel.append(async_to_sync(layer.new_channel)())
        async_to_sync(layer.group_add)("relay-flushed", channel[0])

    await in_thread(make)
    await sender.send(channel[0], {"type": "before"})
    await sender.group_send("relay-flushed", {"type": "before-group"})
    wait_until(lambda: buffered(layer._states) == 2, "both messages in the relay's buffer")
    await in_thread(lambda: async_to_sync(layer.flush)())
    await sender.group_send("relay-flushed", {"type": "after-flush"})
    assert await receives_nothing(layer, channel[0])


def _child_uses_the_layer(layer: AMQPChannelLayer) -> None:
    """In a forked child: the calls a Celery prefork task would make."""
    async_to_sync(layer.send)("forked", {"type": "m", "from": "child", "i": 0})
    async_to_sync(layer.group_send)("forked-group", {"type": "m", "from": "child", "i": 1})
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.send)(channel, {"type": "own"})
    if async_to_sync(layer.receive)(channel)["type"] != "own":
        raise SystemExit(1)


# Forking a process that has threads is what this test is about (Python 3.12+ warns).
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.slow
def test_a_layer_relayed_before_fork_works_in_the_child_and_the_parent(
        rabbitmq, prefix: str) -> None:
    """A child forked after the parent's relay connected (Celery prefork, say) gets a relay
    and connection of its own; the parent's connection is untouched and goes on working
    without a reconnect."""
    layer = AMQPChannelLayer(hosts=[rabbitmq.url], prefix=prefix)
    try:
        async_to_sync(layer.group_add)("forked-group", "forked")
        async_to_sync(layer.send)("forked", {"type": "m", "from": "parent", "i": 0})
        link = layer._states[layer._relay.loop()].link
        generation = link.generation

        child = multiprocessing.get_context("fork").Process(target=_child_uses_the_layer,
                                                            args=(layer,))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        async_to_sync(layer.send)("forked", {"type": "m", "from": "parent", "i": 1})
        assert link.generation == generation and link.is_ready

        async def drain() -> list[tuple[str, int]]:
            reader = AMQPChannelLayer(hosts=[rabbitmq.url], prefix=prefix)
            try:
                return sorted((m["from"], m["i"]) for m in
                              [await receive(reader, "forked") for _ in range(4)])
            finally:
                await reader.close()

        assert asyncio.run(drain()) == [("child", 0), ("child", 1),
                                        ("parent", 0), ("parent", 1)]
    finally:
        async_to_sync(layer.flush)()
        layer._relay.stop()


def _send_once(layer: AMQPChannelLayer) -> None:
    async_to_sync(layer.send)("relay-dropped", {"type": "x"})


async def test_a_dropped_layer_stops_its_relay(rabbitmq, prefix: str) -> None:
    """A layer nobody holds any more (Django drops them when CHANNEL_LAYERS is overridden
    in tests) takes its relay thread and connection with it, without close()."""
    layers = [AMQPChannelLayer(hosts=[rabbitmq.url], prefix=prefix)]
    await in_thread(functools.partial(_send_once, layers[0]))
    assert len(_relay_threads()) == 1
    layers.clear()
    gc.collect()
    deadline = time.monotonic() + 10
    while (_relay_threads() or layer_connections(rabbitmq, prefix)) and (
            time.monotonic() < deadline):
        await asyncio.sleep(0.1)
    assert not _relay_threads()
    assert layer_connections(rabbitmq, prefix) == 0


async def test_relayed_sends_through_an_outage(own_rabbitmq,
                                               make_own_layer: LayerFactory) -> None:
    """With the broker down a relayed send fails within send_timeout, and once the broker
    is back the relay's connection comes back by itself and relayed sends go through."""
    layer = make_own_layer(send_timeout=1.0)
    await in_thread(lambda: async_to_sync(layer.send)("relay-outage", {"type": "warm"}))
    own_rabbitmq.stop_app()
    try:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            await in_thread(lambda: async_to_sync(layer.send)("relay-outage", {"type": "lost"}))
        assert time.monotonic() - started < 4.0
    finally:
        own_rabbitmq.start_app()
    deadline = time.monotonic() + 30
    while True:
        try:
            await in_thread(lambda: async_to_sync(layer.send)("relay-outage", {"type": "back"}))
            break
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
    assert len(_relay_threads()) == 1  # the same relay, reconnected
    # Messages are transient: "warm" went with the broker's restart.
    assert (await receive(layer, "relay-outage"))["type"] == "back"
