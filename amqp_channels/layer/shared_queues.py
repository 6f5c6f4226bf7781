"""Normal channels: durable shared queues with competing consumers (``runworker``).

A normal channel ``NAME`` is the durable queue ``{prefix}.channel.NAME``. Any process may
send; each receiving process consumes with a small prefetch and acks a message only when it
hands it to a ``receive()`` caller, so each message reaches exactly one receiver.

Guarantees:
* capacity is ``x-max-length`` with ``x-overflow: reject-publish``: a full queue nacks the
  publish and the sender gets ``ChannelFull``; expiry is ``x-message-ttl``, and a delivery
  prefetched but unread for ``expiry`` after it arrived is rejected, not handed out;
* deliveries held locally belong to one AMQP channel; after a reconnect they are discarded
  (the broker has already requeued them) so nothing is handed out twice;
* a process that stops receiving releases what it holds: after ``IDLE_RELEASE`` seconds
  without a waiting receiver the consumer's AMQP channel is closed and the broker requeues
  its unacked messages for the other workers;
* a queue that already exists with other arguments (a changed ``expiry`` in a rolling
  deploy, or arguments an operator set) is used as it is, with a warning, instead of
  failing with PRECONDITION_FAILED.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, NamedTuple

from .. import amqp
from ..amqp.errors import AccessRefused, NotFound, PreconditionFailed
from ..telemetry import Telemetry
from ..telemetry.handoff import HANDOFF
from ..telemetry.spans import Incoming
from .buffers import ChannelBuffer
from .config import LayerConfig
from .link import Link
from .naming import channel_queue, queue_arguments
from .stats import LayerStats
from .wire import Codec, UndecodableMessage

log = logging.getLogger("amqp_channels.shared_queues")

IDLE_RELEASE = 2.0
CONSUMER_PREFETCH = 20  # small: competing workers share the backlog fairly


class Held(NamedTuple):
    """A delivery taken from the broker, unacked until it is handed out."""

    channel: amqp.Channel
    tag: int
    message: dict[str, Any]
    incoming: Incoming | None  # the producer's trace context, when traced
    expires_at: float  # on the monotonic clock


class SharedQueues:
    """Declares normal-channel queues and consumes those this loop receives from."""

    def __init__(self, config: LayerConfig, codec: Codec, stats: LayerStats, link: Link,
                 telemetry: Telemetry) -> None:
        self._config = config
        self._telemetry = telemetry
        self._codec = codec
        self._stats = stats
        self._link = link
        self._declared: set[str] = set()
        self._declared_generation = -1
        self._declarer: amqp.Channel | None = None
        self._consumers: dict[str, Consumer] = {}
        self.known: set[str] = set()  # every queue this loop declared: flush deletes them

    def arguments(self, channel: str) -> dict[str, Any]:
        return queue_arguments(self._config, channel)

    async def declared_queue(self, channel: str) -> str:
        """The queue of normal channel ``channel``, declared once per connection."""
        queue = channel_queue(self._config.prefix, channel)
        await self.declare_once(queue, channel)
        return queue

    def is_declared(self, queue: str) -> bool:
        """True when ``queue`` was declared on the current connection."""
        return self._declared_generation == self._link.generation and queue in self._declared

    async def declare_once(self, queue: str, channel: str) -> None:
        """Declare ``queue``, the queue of normal channel ``channel``, once per connection."""
        self._follow_connection()
        if queue not in self._declared:
            await self._declare(queue, channel)
            self._follow_connection()  # the declare may have waited for the first connection
            self._declared.add(queue)
            self.known.add(queue)

    def _follow_connection(self) -> None:
        """Forget what was declared on an earlier connection."""
        if self._declared_generation != self._link.generation:
            self._declared.clear()
            self._declared_generation = self._link.generation

    def forget(self, queue: str) -> bool:
        """``queue`` proved missing (deleted on the broker): the next send declares it
        again. True when it is a normal channel's queue this loop declared."""
        known = queue in self.known
        self._declared.discard(queue)
        return known

    async def _declare(self, queue: str, channel: str) -> None:
        declarer = self._declarer
        if declarer is None or declarer.is_closed:
            declarer = self._declarer = await self._link.open_channel()
        try:
            await declarer.queue_declare(queue, durable=True, arguments=self.arguments(channel))
        except AccessRefused as exc:  # for send and receive alike: not an outage
            raise self._link.refusal(exc) from exc
        except PreconditionFailed as exc:
            # Exists with other arguments: keep the broker's (a policy or an older deploy).
            log.warning("queue %s exists with other arguments; using it as it is (%s)",
                        queue, exc)
            declarer = self._declarer = await self._link.open_channel()
            await declarer.queue_declare(queue, passive=True)

    async def receive(self, channel: str) -> dict[str, Any]:
        consumer = self.consumer(channel)
        return consumer.hand_out(await consumer.take())

    def consumer(self, channel: str) -> Consumer:
        """What this loop consumes of ``channel``. A receive on another loop (relay.py)
        uses its ``take``, then ``hand_out`` (ack) or ``give_back``."""
        consumer = self._consumers.get(channel)
        if consumer is None:
            consumer = self._consumers[channel] = Consumer(self, channel)
        return consumer

    async def restore(self, connection: amqp.Connection) -> None:
        """After a reconnect: drop stale deliveries, resume consumers someone waits on."""
        self._declarer = None
        for consumer in self._consumers.values():
            consumer.reset()
            if consumer.has_waiters:
                await consumer.start()

    async def flush(self) -> None:
        """Delete every queue this loop declared, and what its consumers hold."""
        for consumer in self._consumers.values():
            await consumer.stop()
        channel = await self._link.open_channel()
        try:
            for queue in sorted(self.known):
                await channel.queue_delete(queue)
        finally:
            await channel.close()
        self.known.clear()
        self._declared.clear()


class Consumer:
    """One normal channel consumed by this loop: a buffer and, while needed, a consumer."""

    def __init__(self, owner: SharedQueues, channel: str) -> None:
        self._owner = owner
        self._channel = channel
        self._buffer: ChannelBuffer[Held] = ChannelBuffer()
        self._amqp: amqp.Channel | None = None  # the consuming AMQP channel, while any
        self._starting: asyncio.Lock = asyncio.Lock()
        self._idle_timer: asyncio.TimerHandle | None = None

    @property
    def has_waiters(self) -> bool:
        return self._buffer.waiting > 0

    async def take(self) -> Held:
        """The next delivery, unacked (``hand_out`` acks it)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            if self._amqp is None or self._amqp.is_closed:
                await self.start()
            while True:
                held = await self._buffer.get()
                if held.channel.is_closed:
                    continue  # its connection is gone; the broker requeued the message
                if held.expires_at >= time.monotonic():
                    return held
                # Prefetched, then unread for ``expiry``: x-message-ttl no longer sees it.
                held.channel.basic_reject(held.tag, requeue=False)
                self._owner._stats.drop_expired(self._channel, self._owner._config.expiry)
        finally:
            if not self.has_waiters:
                self._idle_timer = asyncio.get_running_loop().call_later(
                    IDLE_RELEASE, self._release_if_idle
                )

    def hand_out(self, held: Held) -> dict[str, Any]:
        """Ack a taken delivery: it is the receiver's now."""
        if not held.channel.is_closed:
            held.channel.basic_ack(held.tag)
        self._owner._stats.received += 1
        if held.incoming is not None:
            HANDOFF.put(held.message, held.incoming)
        return held.message

    def give_back(self, held: Held) -> None:
        """A taken delivery whose receiver was cancelled: the next take gets it."""
        if not held.channel.is_closed:
            self._buffer.put_back(held)

    async def start(self) -> None:
        async with self._starting:
            if self._amqp is not None and not self._amqp.is_closed:
                return
            link = self._owner._link
            for attempt in range(2):
                queue = await self._owner.declared_queue(self._channel)
                consumer = await link.open_channel()
                await consumer.basic_qos(prefetch_count=min(CONSUMER_PREFETCH,
                                                        self._owner._config.prefetch_count))
                try:
                    await consumer.basic_consume(queue, self._on_delivery, no_ack=False,
                                                 on_cancel=self._deleted)
                except NotFound:
                    # Deleted on the broker since this connection declared it: again.
                    self._owner.forget(queue)
                    if attempt:
                        raise
                    continue
                self._amqp = consumer
                return

    def _deleted(self) -> None:
        """The queue was deleted on the broker (a flush elsewhere, or by hand): reconnect,
        so the restore declares it again and resumes receiving, as after any outage."""
        queue = channel_queue(self._owner._config.prefix, self._channel)
        log.warning("queue %s was deleted on the broker; reconnecting to declare it again",
                    queue)
        self._owner._link.connection_lost(
            ConnectionError(f"queue {queue} was deleted on the broker"))

    def reset(self) -> None:
        self._amqp = None
        self._buffer.clear()

    async def stop(self) -> None:
        consumer, self._amqp = self._amqp, None
        self._buffer.clear()
        if consumer is not None and not consumer.is_closed:
            try:
                await consumer.close(timeout=5)
            except Exception as exc:
                log.debug("closing consumer of %s failed: %r", self._channel, exc)

    def _release_if_idle(self) -> None:
        self._idle_timer = None
        if not self.has_waiters and self._amqp is not None:
            # Closing the AMQP channel makes the broker requeue what we hold, for others.
            asyncio.get_running_loop().create_task(self.stop())

    def _on_delivery(self, delivered: amqp.Delivery) -> None:
        properties = delivered.properties
        try:
            message = self._owner._codec.decode(
                delivered.body, properties.content_type, properties.content_encoding
            )
        except UndecodableMessage as exc:
            self._owner._stats.drop("foreign", f"on channel {self._channel}: {exc}")
            delivered.channel.basic_reject(delivered.delivery_tag, requeue=False)
            return
        incoming = self._owner._telemetry.incoming(properties.headers or {}, self._channel,
                                                   properties.message_id)
        self._buffer.put(Held(delivered.channel, delivered.delivery_tag, message, incoming,
                              time.monotonic() + self._owner._config.expiry))
