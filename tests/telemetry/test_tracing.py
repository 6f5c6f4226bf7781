"""Spans across the event path: a producer span in the sending layer, a process span per
handled message in the receiving consumer, in one trace (OpenTelemetry messaging
conventions)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.consumer import SyncConsumer
from channels.exceptions import ChannelFull, MessageTooLarge
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from amqp_channels.sync import SyncPublisher
from amqp_channels.telemetry import TracedConsumerMixin
from tests.conftest import LayerFactory
from tests.helpers import TIMEOUT, in_thread, receive

from .conftest import Otel, ParentedRecorder, RunConsumer, handled


async def test_send_links_the_process_span_to_the_producer_span(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel,
        prefix: str) -> None:
    """A send from one layer to a consumer on another gives a PRODUCER span with the
    messaging attributes and a CONSUMER process span linked to it, sharing its message id."""
    sender, receiver = make_traced_layer(), make_traced_layer()
    consumer = await run_consumer(receiver)
    await sender.send(consumer.channel_name, {"type": "test.message", "n": 1})
    assert await handled(consumer) == {"type": "test.message", "n": 1}

    [producer] = otel.finished("send specific.*!*")
    [process] = await otel.wait_finished("process specific.*!*")
    token = consumer.channel_name.split("!")[0].rsplit(".", 1)[-1]
    assert producer.kind == SpanKind.PRODUCER
    assert dict(producer.attributes) == {
        "messaging.system": "rabbitmq", "messaging.operation.type": "send",
        "messaging.operation.name": "send", "messaging.destination.name": "",
        "messaging.destination.template": "specific.*!*",
        "messaging.rabbitmq.destination.routing_key": f"{prefix}.inbox.{token}",
        "asgi.channel": consumer.channel_name,
        "messaging.message.id": producer.attributes["messaging.message.id"],
    }
    assert process.kind == SpanKind.CONSUMER
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messaging.message.id"] == \
        producer.attributes["messaging.message.id"]
    assert [link.context.span_id for link in process.links] == [producer.context.span_id]
    assert process.parent is None  # linked, not parented: the consumer's own trace


async def test_trace_parent_makes_the_process_span_a_child(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel) -> None:
    """With ``trace_parent = True`` the process span is the producer span's child."""
    sender, receiver = make_traced_layer(), make_traced_layer()
    consumer = await run_consumer(receiver, ParentedRecorder)
    await sender.send(consumer.channel_name, {"type": "test.message"})
    await handled(consumer)

    [producer] = otel.finished("send specific.*!*")
    [process] = await otel.wait_finished("process specific.*!*")
    assert process.context.trace_id == producer.context.trace_id
    assert process.parent is not None and process.parent.span_id == producer.context.span_id


async def test_a_relayed_send_keeps_the_callers_trace(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel) -> None:
    """async_to_sync(send) from a plain thread runs on the layer's relay, yet its producer
    span is a child of the caller's span and the consumer's process span links to it."""
    sender, receiver = make_traced_layer(), make_traced_layer()
    consumer = await run_consumer(receiver)
    tracer = otel.tracer_provider.get_tracer("test")

    def view() -> None:
        with tracer.start_as_current_span("view"):
            async_to_sync(sender.send)(consumer.channel_name, {"type": "test.message"})

    await in_thread(view)
    await handled(consumer)
    [view_span] = otel.finished("view")
    [producer] = otel.finished("send specific.*!*")
    [process] = await otel.wait_finished("process specific.*!*")
    assert producer.parent is not None and producer.parent.span_id == view_span.context.span_id
    assert [link.context.span_id for link in process.links] == [producer.context.span_id]


class SyncRecorder(TracedConsumerMixin, SyncConsumer):  # type: ignore[misc]
    """A sync consumer: its handler runs in asgiref's thread, sends to the channel named in
    the message and to its client, and reports the thread and the span it ran in."""

    handled: asyncio.Queue[dict[str, Any]]
    loop: asyncio.AbstractEventLoop

    def test_message(self, message: dict[str, Any]) -> None:
        async_to_sync(self.channel_layer.send)(message["forward"], {"type": "test.forwarded"})
        self.send({"type": "websocket.send", "text": "out"})
        seen = {"thread": threading.get_ident(),
                "span": trace.get_current_span().get_span_context().span_id}
        self.loop.call_soon_threadsafe(self.handled.put_nowait, seen)


@pytest.mark.parametrize("trace_parent", [False, True])
async def test_a_sync_consumer_handler_runs_inside_its_process_span(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel,
        trace_parent: bool) -> None:
    """With a SyncConsumer the handler runs in another thread, yet inside the process span
    (linked or parented to the producer as asked); what it sends from there (a layer send
    through async_to_sync, a frame to its client) are that span's children."""
    sender, receiver = make_traced_layer(), make_traced_layer()
    SyncRecorder.loop = asyncio.get_running_loop()
    cls = type("Recorder", (SyncRecorder,), {"trace_parent": trace_parent})
    consumer = await run_consumer(receiver, cls)
    forward = await sender.new_channel()
    await sender.send(consumer.channel_name, {"type": "test.message", "forward": forward})
    seen = await handled(consumer)
    assert await receive(sender, forward) == {"type": "test.forwarded"}

    sends = {s.attributes["asgi.channel"]: s for s in otel.finished("send specific.*!*")}
    producer, forwarded = sends.pop(consumer.channel_name), sends.pop(forward)
    assert not sends
    [process] = await otel.wait_finished("process specific.*!*")
    [frame_out] = otel.finished("websocket.send")
    assert seen["thread"] != threading.get_ident()  # not the event loop's thread
    assert seen["span"] == process.context.span_id
    if trace_parent:
        assert process.parent is not None
        assert process.parent.span_id == producer.context.span_id
    else:
        assert process.parent is None
        assert [link.context.span_id for link in process.links] == [producer.context.span_id]
    for child in (forwarded, frame_out):
        assert child.parent is not None and child.parent.span_id == process.context.span_id


async def test_remote_membership_changes_make_no_spans(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel) -> None:
    """group_add/group_discard of another process's channel travel as control messages to
    that process: they are not messages of the application, so they make no span at
    either end, even when asked from inside a traced handler."""
    asker, owner = make_traced_layer(), make_traced_layer()
    consumer = await run_consumer(owner)
    tracer = otel.tracer_provider.get_tracer("test")
    groups = owner._state().addons["groups"]
    with tracer.start_as_current_span("handler"):
        await asker.group_add("telemetry-remote", consumer.channel_name)
        async with asyncio.timeout(TIMEOUT):
            while "telemetry-remote" not in groups._bound:  # the owner applied it
                await asyncio.sleep(0.02)
    await asker.group_send("telemetry-remote", {"type": "test.message"})
    await handled(consumer)
    await asker.group_discard("telemetry-remote", consumer.channel_name)
    async with asyncio.timeout(TIMEOUT):
        while "telemetry-remote" in groups.local:
            await asyncio.sleep(0.02)
    assert sorted(s.name for s in otel.finished()) == [
        "group_send telemetry-remote", "handler", "process telemetry-remote"]


async def test_group_send_gives_one_process_span_per_member(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel) -> None:
    """A group_send to three members in two processes is one producer span and three
    process spans, each linked to it."""
    sender, process_a, process_b = (make_traced_layer(), make_traced_layer(),
                                    make_traced_layer())
    members = [await run_consumer(process_a), await run_consumer(process_a),
               await run_consumer(process_b)]
    for member in members:
        await member.channel_layer.group_add("room-7", member.channel_name)
    await sender.group_send("room-7", {"type": "test.message"})
    await asyncio.gather(*(handled(member) for member in members))

    [producer] = otel.finished("group_send room-7")
    assert producer.attributes["messaging.destination.name"].endswith(".groups")
    assert producer.attributes["messaging.rabbitmq.destination.routing_key"] == "room-7"
    processes = await otel.wait_finished("process room-7", count=3)
    assert len(processes) == 3
    assert {p.attributes["asgi.channel"] for p in processes} == \
        {m.channel_name for m in members}
    for process in processes:
        assert [link.context.span_id for link in process.links] == [producer.context.span_id]


@pytest.mark.parametrize("config, message, error", [
    pytest.param({"capacity": 1}, {"type": "test.message"}, ChannelFull, id="channel-full"),
    pytest.param({"max_message_size": 64}, {"type": "x" * 100}, MessageTooLarge,
                 id="message-too-large"),
])
async def test_a_refused_send_sets_error_type(
        make_traced_layer: LayerFactory, otel: Otel, config: dict, message: dict,
        error: type[Exception]) -> None:
    """ChannelFull and MessageTooLarge end the producer span with error.type and an error
    status; the exception still reaches the caller."""
    layer = make_traced_layer(**config)
    with pytest.raises(error):
        for _ in range(3):
            await layer.send("telemetry-refused", message)
    failed = [s for s in otel.finished("send telemetry-refused")
              if s.status.status_code == StatusCode.ERROR]
    assert len(failed) == 1
    assert failed[0].attributes["error.type"] == f"channels.exceptions.{error.__name__}"


async def test_name_templates_keep_span_names_low_cardinality(
        make_traced_layer: LayerFactory, otel: Otel) -> None:
    """A tracing_name_templates rule maps per-user group names to one span name."""
    layer = make_traced_layer(tracing_name_templates=[("user.*", "user.{id}")])
    for user in ("user.1", "user.2"):
        await layer.group_send(user, {"type": "test.message"})
    spans = otel.finished("group_send user.{id}")
    assert len(spans) == 2
    assert {s.attributes["asgi.group"] for s in spans} == {"user.1", "user.2"}


async def test_sync_publisher_injects_the_trace_context(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel,
        rabbitmq, prefix: str) -> None:
    """A send through the kombu publisher carries traceparent: the consumer's process span
    on the layer links to the publisher's producer span."""
    consumer = await run_consumer(make_traced_layer())
    publisher = SyncPublisher(hosts=[rabbitmq.url], prefix=prefix,
                              tracer_provider=otel.tracer_provider)
    try:
        await asyncio.to_thread(publisher.send, consumer.channel_name,
                                {"type": "test.message"})
        await handled(consumer)
    finally:
        publisher.close()
    [producer] = otel.finished("send specific.*!*")
    [process] = await otel.wait_finished("process specific.*!*")
    assert [link.context.span_id for link in process.links] == [producer.context.span_id]
    assert process.attributes["messaging.message.id"] == \
        producer.attributes["messaging.message.id"]


async def test_telemetry_false_turns_tracing_off(
        make_traced_layer: LayerFactory, run_consumer: RunConsumer, otel: Otel) -> None:
    """CONFIG telemetry=False: no spans even with a provider."""
    layer = make_traced_layer(telemetry=False)
    consumer = await run_consumer(layer)
    await layer.send(consumer.channel_name, {"type": "test.message"})
    await handled(consumer)
    assert otel.finished() == []
