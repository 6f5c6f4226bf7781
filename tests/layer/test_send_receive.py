"""The Channels layer contract on a real broker: send, receive, new_channel, flush."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import ChannelFull, MessageTooLarge
from channels.layers import BaseChannelLayer

from amqp_channels import AMQPChannelLayer
from amqp_channels.errors import ForeignChannel
from tests.conftest import LayerFactory
from tests.helpers import receive, receives_nothing


def test_is_a_channels_layer_with_spec_attributes() -> None:
    """The class is a BaseChannelLayer and exposes the spec's exceptions and extensions."""
    layer = AMQPChannelLayer()
    assert isinstance(layer, BaseChannelLayer)
    assert layer.ChannelFull is ChannelFull
    assert layer.MessageTooLarge is MessageTooLarge
    assert "flush" in layer.extensions


@pytest.mark.uvloop
async def test_process_specific_channel_between_two_layers(make_layer: LayerFactory) -> None:
    """A message sent by one layer to another's new_channel() arrives there, intact."""
    owner, sender = make_layer(), make_layer()
    channel = await owner.new_channel()
    await sender.send(channel, {"type": "test.message", "text": "ok", "data": b"\x01"})
    assert await receive(owner, channel) == {"type": "test.message", "text": "ok",
                                             "data": b"\x01"}


async def test_new_channel_names_are_unique_and_valid(layer: AMQPChannelLayer) -> None:
    """new_channel() returns distinct, valid process-specific names."""
    names = {await layer.new_channel() for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert "!" in name and layer.require_valid_channel_name(name)


async def test_process_specific_channels_are_fifo_and_separate(make_layer: LayerFactory
                                                                ) -> None:
    """Each channel keeps its own order; messages never cross to a sibling channel."""
    owner, sender = make_layer(), make_layer()
    a, b = await owner.new_channel(), await owner.new_channel()
    for i in range(20):
        await sender.send(a, {"type": "a", "i": i})
        await sender.send(b, {"type": "b", "i": i})
    assert [(await receive(owner, a))["i"] for _ in range(20)] == list(range(20))
    assert [(await receive(owner, b))["type"] for _ in range(20)] == ["b"] * 20


async def test_send_to_own_channel_delivers_a_copy(layer: AMQPChannelLayer) -> None:
    """Sending to a channel of the same layer works and the receiver gets its own copy."""
    channel = await layer.new_channel()
    message = {"type": "x", "list": [1]}
    await layer.send(channel, message)
    message["list"].append(2)
    assert await receive(layer, channel) == {"type": "x", "list": [1]}


async def test_normal_channel_round_trip(make_layer: LayerFactory) -> None:
    """A normal channel works across layers like runworker needs."""
    worker, sender = make_layer(), make_layer()
    await sender.send("thumbnails-generate", {"type": "thumb", "id": 7})
    assert await receive(worker, "thumbnails-generate") == {"type": "thumb", "id": 7}


async def test_normal_channel_is_fifo(make_layer: LayerFactory) -> None:
    """One receiver sees a normal channel's messages in the order they were sent."""
    worker, sender = make_layer(), make_layer()
    for i in range(30):
        await sender.send("ordered", {"type": "x", "i": i})
    assert [(await receive(worker, "ordered"))["i"] for _ in range(30)] == list(range(30))


async def test_normal_channel_queue_is_durable_and_named(rabbitmq, make_layer: LayerFactory,
                                                         prefix: str) -> None:
    """The queue is durable, carries the prefix and channel name, and the capacity args."""
    layer = make_layer(capacity=7, expiry=30)
    await layer.send("named-channel", {"type": "x"})
    queue = rabbitmq.management_get(f"/api/queues/%2F/{prefix}.channel.named-channel")
    assert queue["durable"] is True and queue["exclusive"] is False
    assert queue["arguments"]["x-max-length"] == 7
    assert queue["arguments"]["x-overflow"] == "reject-publish"
    assert queue["arguments"]["x-message-ttl"] == 30000
    assert queue["arguments"]["x-queue-type"] == "classic"


async def test_quorum_queue_type(rabbitmq, make_layer: LayerFactory, prefix: str) -> None:
    """queue_type='quorum' declares normal channels as quorum queues that still work."""
    layer = make_layer(queue_type="quorum")
    await layer.send("quorum-channel", {"type": "x"})
    queue = rabbitmq.management_get(f"/api/queues/%2F/{prefix}.channel.quorum-channel")
    assert queue["type"] == "quorum"
    assert await receive(layer, "quorum-channel") == {"type": "x"}


@pytest.mark.uvloop
async def test_competing_receivers_get_each_message_once(make_layer: LayerFactory) -> None:
    """Two receivers on one normal channel split the messages; none is lost or doubled."""
    sender, w1, w2 = make_layer(), make_layer(), make_layer()
    got: list[int] = []

    async def work(layer: AMQPChannelLayer) -> None:
        while True:
            got.append((await layer.receive("jobs"))["i"])

    workers = [asyncio.ensure_future(work(w1)), asyncio.ensure_future(work(w2))]
    for i in range(200):
        await sender.send("jobs", {"type": "job", "i": i})
    async with asyncio.timeout(10):
        while len(got) < 200:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # a duplicate would show up here
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    assert sorted(got) == list(range(200))


async def test_normal_channel_capacity_raises_channel_full(make_layer: LayerFactory) -> None:
    """With nobody receiving, the send after `capacity` messages raises ChannelFull."""
    layer = make_layer(capacity=3)
    for i in range(3):
        await layer.send("full-channel", {"type": "x", "i": i})
    with pytest.raises(ChannelFull):
        await layer.send("full-channel", {"type": "x", "i": 3})
    assert [(await receive(layer, "full-channel"))["i"] for _ in range(3)] == [0, 1, 2]


async def test_channel_capacity_pattern_applies(make_layer: LayerFactory) -> None:
    """A channel_capacity entry overrides capacity for the channels it matches."""
    layer = make_layer(capacity=100, channel_capacity={"tiny-*": 1})
    await layer.send("tiny-one", {"type": "x"})
    with pytest.raises(ChannelFull):
        await layer.send("tiny-one", {"type": "x"})


async def test_specific_channel_capacity_raises_channel_full(make_layer: LayerFactory) -> None:
    """A process-specific channel holding `capacity` unread messages refuses the next."""
    layer = make_layer(capacity=2)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "x"})
    await layer.send(channel, {"type": "x"})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "x"})


@pytest.mark.uvloop
async def test_remote_sender_gets_channel_full_from_a_full_inbox(make_layer: LayerFactory,
                                                                 rabbitmq) -> None:
    """When an inbox queue is at capacity on the broker, a remote send raises ChannelFull."""
    owner, sender = make_layer(capacity=2, prefetch_count=1), make_layer(capacity=2)
    channel = await owner.new_channel()
    # Stop the owner's consumer so messages pile up in the queue, as in a stalled process.
    state = owner._state()
    assert state.inbox._consumer is not None
    await state.inbox._consumer.close()
    await sender.send(channel, {"type": "x"})
    await sender.send(channel, {"type": "x"})
    with pytest.raises(ChannelFull):
        await sender.send(channel, {"type": "x"})


async def test_expired_messages_are_not_delivered(make_layer: LayerFactory) -> None:
    """A message left unread longer than `expiry` is never received."""
    layer = make_layer(expiry=1)
    await layer.send("expiring", {"type": "old"})
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "old"})
    await asyncio.sleep(1.5)
    await layer.send("expiring", {"type": "new"})
    await layer.send(channel, {"type": "new"})
    assert (await receive(layer, "expiring"))["type"] == "new"
    assert (await receive(layer, channel))["type"] == "new"


@pytest.mark.parametrize("kind", ["normal", "process-specific"])
async def test_messages_received_after_theirs_expire_behind_them(make_layer: LayerFactory,
                                                                 kind: str) -> None:
    """Messages that reached the receiving process while an earlier one was received (a
    consumer's prefetch, or the inbox's buffer) still expire when left unread."""
    layer = make_layer(expiry=0.3)
    channel = "expiring-behind" if kind == "normal" else await layer.new_channel()
    for n in (1, 2, 3):
        await layer.send(channel, {"type": "m", "n": n})
    assert (await receive(layer, channel))["n"] == 1
    await asyncio.sleep(0.5)
    await layer.send(channel, {"type": "m", "n": 4})
    assert (await receive(layer, channel))["n"] == 4
    assert await receives_nothing(layer, channel)
    assert layer.stats.dropped["expired"] == 2


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("has space", id="space"),
        pytest.param("a" * 120, id="too-long"),
        pytest.param("ünïcode", id="non-ascii"),
        pytest.param(42, id="not-a-string"),
    ],
)
async def test_invalid_channel_names_are_type_errors(layer: AMQPChannelLayer,
                                                     name: object) -> None:
    """Invalid names raise TypeError from send and receive, before touching the broker."""
    with pytest.raises(TypeError):
        await layer.send(name, {"type": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await layer.receive(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param("text", TypeError, id="not-a-dict"),
        pytest.param({"__asgi_group__": "g"}, ValueError, id="reserved-key"),
        pytest.param({"type": "x", "set": {1, 2}}, TypeError, id="unserializable"),
    ],
)
async def test_bad_message_sends_nothing(make_layer: LayerFactory, message: object,
                                         error: type[Exception]) -> None:
    """A bad message raises a clear error and nothing reaches the channel."""
    layer = make_layer()
    with pytest.raises(error):
        await layer.send("bad-input", message)  # type: ignore[arg-type]
    await layer.send("bad-input", {"type": "marker"})
    assert (await receive(layer, "bad-input"))["type"] == "marker"


@pytest.mark.uvloop
async def test_large_messages(make_layer: LayerFactory) -> None:
    """A 1 MB message goes through; one over max_message_size is MessageTooLarge."""
    owner, sender = make_layer(serializer="json"), make_layer(serializer="json")
    channel = await owner.new_channel()
    big = {"type": "big", "text": "x" * (1024 * 1024)}
    await sender.send(channel, big)
    assert await receive(owner, channel) == big
    small = make_layer(max_message_size=1024)
    with pytest.raises(MessageTooLarge):
        await small.send(channel, {"type": "x", "text": "x" * 2048})


@pytest.mark.uvloop
async def test_cancelled_receive_loses_nothing(make_layer: LayerFactory) -> None:
    """Cancelling a pending receive() (as Channels does) leaves the next message for the
    next receive(), on process-specific and normal channels alike."""
    owner, sender = make_layer(), make_layer()
    for channel in (await owner.new_channel(), "cancel-normal"):
        pending = asyncio.ensure_future(owner.receive(channel))
        await asyncio.sleep(0.2)
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        await sender.send(channel, {"type": "after-cancel"})
        assert (await receive(owner, channel))["type"] == "after-cancel"


async def test_receive_on_someone_elses_specific_channel_is_refused(
        make_layer: LayerFactory) -> None:
    """Another layer (as another process would) cannot receive on a channel this one made.
    The error is the AssertionError that channels_redis and channels_rabbitmq raise, too."""
    owner, other = make_layer(), make_layer()
    channel = await owner.new_channel()
    with pytest.raises(ForeignChannel):
        await other.receive(channel)
    with pytest.raises(AssertionError):
        await other.receive("not-made-here!local_part")


async def test_encrypted_layers_interoperate(make_layer: LayerFactory) -> None:
    """Layers sharing symmetric_encryption_keys exchange messages."""
    owner = make_layer(symmetric_encryption_keys=["s3cret"])
    sender = make_layer(symmetric_encryption_keys=["s3cret"])
    channel = await owner.new_channel()
    await sender.send(channel, {"type": "secret"})
    assert (await receive(owner, channel))["type"] == "secret"


async def test_flush_empties_channels(make_layer: LayerFactory) -> None:
    """flush() drops waiting messages on normal and process-specific channels."""
    layer = make_layer()
    channel = await layer.new_channel()
    await layer.send("flushed", {"type": "x"})
    await layer.send(channel, {"type": "x"})
    await layer.flush()
    assert await receives_nothing(layer, "flushed")
    assert await receives_nothing(layer, channel)


async def test_changed_expiry_uses_the_existing_queue(make_layer: LayerFactory, rabbitmq,
                                                      prefix: str) -> None:
    """A layer with another expiry (a rolling deploy) uses the queue declared by the old one
    instead of failing with PRECONDITION_FAILED."""
    old, new = make_layer(expiry=60), make_layer(expiry=30)
    await old.send("redeploy", {"type": "from-old"})
    await new.send("redeploy", {"type": "from-new"})
    assert [(await receive(new, "redeploy"))["type"] for _ in range(2)] == [
        "from-old", "from-new"]
    queue = rabbitmq.management_get(f"/api/queues/%2F/{prefix}.channel.redeploy")
    assert queue["arguments"]["x-message-ttl"] == 60000  # the first declaration stands


async def test_hosts_fail_over_to_the_next_url(make_layer: LayerFactory, rabbitmq) -> None:
    """With the first host down, the layer connects to the next one in `hosts`."""
    layer = make_layer(hosts=["amqp://guest:guest@127.0.0.1:1/", rabbitmq.url])
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "x"})
    assert (await receive(layer, channel))["type"] == "x"


async def test_unreachable_broker_fails_new_channel_within_connect_timeout(
        make_layer: LayerFactory) -> None:
    """new_channel() against no broker raises BrokerUnavailable after connect_timeout."""
    from amqp_channels import BrokerUnavailable

    layer = make_layer(hosts=["amqp://guest:guest@127.0.0.1:1/"], connect_timeout=1)
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:1"):
        await asyncio.wait_for(layer.new_channel(), 5)


async def test_busy_receiver_pushes_back_on_a_fast_sender(make_layer: LayerFactory) -> None:
    """A receiver that is busy (not abandoned) makes a fast remote sender get ChannelFull
    instead of losing messages: every send that returned is received."""
    owner = make_layer(capacity=5, prefetch_count=5)
    sender = make_layer(capacity=5)
    channel = await owner.new_channel()
    await sender.send(channel, {"type": "warm", "i": -1})
    assert (await receive(owner, channel))["i"] == -1  # the channel is being read
    accepted = 0
    with pytest.raises(ChannelFull):
        for i in range(100):
            await sender.send(channel, {"type": "x", "i": i})
            accepted += 1
    assert accepted >= 5  # at least the local buffer's worth got through
    got = [(await receive(owner, channel))["i"] for _ in range(accepted)]
    assert got == list(range(accepted))
    assert await receives_nothing(owner, channel)


async def test_abandoned_full_channel_does_not_stall_its_process(make_layer: LayerFactory
                                                                 ) -> None:
    """Messages for a full channel nobody reads are dropped (counted), and the other
    channels of the process keep receiving."""
    owner = make_layer(capacity=3, prefetch_count=10)
    sender = make_layer(capacity=100)
    abandoned, alive = await owner.new_channel(), await owner.new_channel()
    for i in range(30):
        await sender.send(abandoned, {"type": "x", "i": i})
    await sender.send(alive, {"type": "still-flowing"})
    assert (await receive(owner, alive))["type"] == "still-flowing"
    assert owner.stats.dropped["full"] == 27
