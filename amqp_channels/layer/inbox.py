"""Process-specific channels: one exclusive inbox queue per layer per event loop.

Every ``X.TOKEN!suffix`` channel made by ``new_channel()`` lives on the inbox queue
``{prefix}.inbox.TOKEN``; the full channel name travels in the ``asgi-channel`` header and
deliveries are sorted here into one bounded local buffer per channel.

Guarantees:
* the queue name is chosen by the client and declared again after a reconnect, so channel
  names stay valid across outages (a lingering old exclusive queue, RESOURCE_LOCKED, is
  retried with backoff);
* the inbox is consumed without acks (the broker's per-delivery bookkeeping was the
  largest cost left on a p2p stream), and the process bounds what it holds itself: a
  delivery counts as held until a ``receive()`` takes its last copy (or it expires); at
  ``prefetch_count`` held the consumer is cancelled, and it consumes again once half of
  that is taken. Meanwhile RabbitMQ keeps new messages in the inbox queue up to
  ``x-max-length`` and then nacks the sender, who gets ``ChannelFull``: a fast sender is
  slowed down, never silently dropped (messages already on their way when the consumer
  is cancelled still arrive and are held: the bound is ``prefetch_count`` plus what the
  broker had sent by then);
* a channel that is full and has had no receiver for ``ALIVE_WINDOW`` seconds (a websocket
  whose consumer is gone) drops further direct messages (counted) instead of holding them,
  so one abandoned channel cannot stall its whole process;
* a group delivery is held until its copies are taken: a full member is skipped (the
  spec's rule);
* messages left unread longer than ``expiry`` are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import amqp
from ..amqp.errors import AMQPError, NotFound, ResourceLocked
from ..telemetry import Telemetry
from ..telemetry.handoff import HANDOFF
from ..telemetry.spans import Incoming
from .buffers import ChannelBuffer
from .config import LayerConfig
from .naming import (
    CHANNEL_HEADER,
    CONTROL_HEADER,
    ECHO_HEADER,
    GROUP_HEADER,
    inbox_queue,
    inbox_token,
    queue_arguments,
)
from .stats import LayerStats
from .wire import Codec, UndecodableMessage

log = logging.getLogger("amqp_channels.inbox")



class Held:
    """One inbox delivery while local buffers hold it: it counts against ``prefetch_count``
    until its last copy is received, expires or is flushed (a group message may sit in
    several channels' buffers)."""

    __slots__ = ("holders",)

    def __init__(self) -> None:
        self.holders = 1  # the delivery handler itself, until it has placed every copy


# (expires at on the monotonic clock, message, the delivery it came in, or None when
# local, the producer's trace context when traced)
Entry = tuple[float, dict[str, Any], Held | None, Incoming | None]
# (group, first decoded copy, a function that decodes another copy for the next member,
# the delivery and the trace context to hand to ``deliver`` with each copy)
GroupHandler = Callable[[str, dict[str, Any], Callable[[], dict[str, Any]], Held,
                         Incoming | None], None]
# (action, group, channel): a membership change another process asked of this one
ControlHandler = Callable[[str, str, str], None]
DECLARE_ATTEMPTS = 8
ALIVE_WINDOW = 5.0  # seconds since the last receive() for a channel to count as read


class Inbox:
    """Declares, consumes and demultiplexes one exclusive inbox queue."""

    def __init__(self, config: LayerConfig, codec: Codec, stats: LayerStats, token: str,
                 telemetry: Telemetry) -> None:
        self.token = token
        self.queue = inbox_queue(config.prefix, token)
        self._config = config
        self._codec = codec
        self._stats = stats
        self._telemetry = telemetry
        self._buffers: dict[str, ChannelBuffer[Entry]] = {}
        self._consumer: amqp.Channel | None = None
        self._consumer_tag: str | None = None  # None while not consuming
        self._held = 0  # deliveries held in local buffers
        self._paused = False  # too much held: the consumer should be cancelled
        self._flow_lock = asyncio.Lock()  # one consume or cancel at a time
        self._flow_task: asyncio.Task[None] | None = None
        self._last_receive: dict[str, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        # Set by the groups extension; without it group deliveries count as foreign.
        self.group_handler: GroupHandler | None = None
        self.control_handler: ControlHandler | None = None
        # Told the ``asgi-echo`` id of a group message once it has been fanned out here.
        self.echo_handler: Callable[[str], None] | None = None
        # Asks for a reconnect, whose restore declares the inbox again (set by LoopState).
        self.on_deleted: Callable[[BaseException], None] | None = None

    def owns(self, channel: str) -> bool:
        return "!" in channel and inbox_token(channel) == self.token

    @property
    def arguments(self) -> dict[str, Any]:
        # Exclusive queues are always classic, whatever queue_type says for normal channels.
        return {**queue_arguments(self._config, f"specific.{self.token}!"),
                "x-queue-type": "classic"}

    async def restore(self, connection: amqp.Connection) -> None:
        """(Re)declare the inbox under its fixed name and consume it on ``connection``."""
        delay = 0.1
        for attempt in range(DECLARE_ATTEMPTS):
            channel = await connection.channel()
            try:
                await channel.queue_declare(self.queue, exclusive=True,
                                            arguments=self.arguments)
                break
            except ResourceLocked:
                # The previous connection's exclusive queue has not been removed yet
                # (seen after failovers): wait for the broker to notice and retry.
                if attempt == DECLARE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        async with self._flow_lock:
            self._consumer, self._consumer_tag = channel, None
            if not self._paused:  # else _converge consumes once enough is taken
                self._consumer_tag = await channel.basic_consume(
                    self.queue, self._on_delivery, no_ack=True, on_cancel=self._deleted)
        if self._sweeper is None:
            self._schedule_sweep()

    @property
    def buffered(self) -> int:
        """Messages held in this inbox's local buffers."""
        return sum(len(buffer) for buffer in list(self._buffers.values()))

    def deliver(self, channel: str, message: dict[str, Any],
                pending: Held | None = None, incoming: Incoming | None = None) -> bool:
        """Put ``message`` into ``channel``'s local buffer; False when it is full.

        A message from the broker (``pending``) is held until received, and a full buffer
        only refuses it when nobody has read the channel lately."""
        buffer = self._buffers.get(channel)
        if buffer is None:
            buffer = self._buffers[channel] = ChannelBuffer()
        elif len(buffer) >= self._config.capacity_for(channel) and not (
                pending is not None and self._is_read(channel, buffer)):
            return False
        if pending is not None:
            pending.holders += 1
        buffer.put((time.monotonic() + self._config.expiry, message, pending, incoming))
        return True

    def put_back(self, channel: str, message: dict[str, Any]) -> None:
        """Return a message that a receive on another loop took but could not hand over
        (its caller was cancelled): the channel's next receive gets it."""
        self._buffer(channel).put_back(
            (time.monotonic() + self._config.expiry, message, None, None))

    def _buffer(self, channel: str) -> ChannelBuffer[Entry]:
        buffer = self._buffers.get(channel)
        if buffer is None:
            buffer = self._buffers[channel] = ChannelBuffer()
        return buffer

    def _is_read(self, channel: str, buffer: ChannelBuffer[Entry]) -> bool:
        if buffer.waiting:
            return True
        return time.monotonic() - self._last_receive.get(channel, -ALIVE_WINDOW) < ALIVE_WINDOW

    def is_full(self, channel: str) -> bool:
        buffer = self._buffers.get(channel)
        return buffer is not None and len(buffer) >= self._config.capacity_for(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next unexpired message of ``channel``, waiting as long as it takes."""
        buffer = self._buffer(channel)
        self._last_receive[channel] = time.monotonic()
        try:
            while True:
                expires_at, message, pending, incoming = await buffer.get()
                if pending is not None:
                    self._release(pending)
                if expires_at >= time.monotonic():
                    if incoming is not None:
                        HANDOFF.put(message, incoming)
                    return message
                self._stats.drop_expired(channel, self._config.expiry)
        finally:
            self._last_receive[channel] = time.monotonic()

    def flush(self) -> None:
        """Forget every buffered message (waiting receivers keep waiting)."""
        for buffer in self._buffers.values():
            self._release_all(buffer.clear())

    def close(self) -> None:
        if self._flow_task is not None:
            self._flow_task.cancel()
            self._flow_task = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _on_delivery(self, delivered: amqp.Delivery) -> None:
        # Called by the client for each delivery, in order, from data_received.
        properties = delivered.properties
        headers = properties.headers or {}
        pending = Held()
        self._held += 1
        try:
            if CONTROL_HEADER in headers:
                self._on_control(headers)
            else:
                message = self._codec.decode(
                    delivered.body, properties.content_type, properties.content_encoding
                )
                group = headers.get(GROUP_HEADER)
                incoming = self._incoming(headers, properties)
                if group is not None:
                    self._on_group(group, message, delivered.body, properties, pending,
                                   incoming)
                    echo = headers.get(ECHO_HEADER)
                    if isinstance(echo, str) and self.echo_handler is not None:
                        self.echo_handler(echo)
                else:
                    self._on_direct(headers.get(CHANNEL_HEADER), message, pending, incoming)
        except UndecodableMessage as exc:
            self._stats.drop("foreign", f"on {self.queue}: {exc}")
        self._release(pending)  # done with it now unless a buffer holds a copy
        if self._held >= self._config.prefetch_count and not self._paused:
            self._paused = True
            self._kick_flow()

    def _incoming(self, headers: dict[str, Any], properties: amqp.Properties
                  ) -> Incoming | None:
        """The sender's trace context, when it sent one and we trace."""
        destination = headers.get(GROUP_HEADER) or headers.get(CHANNEL_HEADER)
        return self._telemetry.incoming(headers, str(destination), properties.message_id)

    def _on_direct(self, target: object, message: dict[str, Any],
                   pending: Held, incoming: Incoming | None) -> None:
        if not isinstance(target, str) or not self.owns(target):
            raise UndecodableMessage(f"no channel of this inbox in header: {target!r}")
        if not self.deliver(target, message, pending, incoming):
            self._stats.drop("full", f"{target} is full and has no receiver")

    def _on_group(self, group: object, message: dict[str, Any], body: bytes,
                  properties: amqp.Properties, pending: Held,
                  incoming: Incoming | None) -> None:
        if not isinstance(group, str) or self.group_handler is None:
            raise UndecodableMessage(f"group message for {group!r} without groups here")
        content_type, encoding = properties.content_type, properties.content_encoding
        self.group_handler(group, message,
                           lambda: self._codec.decode(body, content_type, encoding), pending,
                           incoming)

    def _on_control(self, headers: dict[str, Any]) -> None:
        action, group = headers.get(CONTROL_HEADER), headers.get(GROUP_HEADER)
        target = headers.get(CHANNEL_HEADER)
        if (self.control_handler is None or not isinstance(action, str)
                or not isinstance(group, str) or not isinstance(target, str)
                or not self.owns(target)):
            raise UndecodableMessage(f"bad control message {headers!r}")
        self.control_handler(action, group, target)

    def _release(self, pending: Held) -> None:
        """One holder of a delivery is done with it; the last one frees its place."""
        pending.holders -= 1
        if pending.holders:
            return
        self._held -= 1
        if self._paused and self._held <= self._config.prefetch_count // 2:
            self._paused = False
            self._kick_flow()

    def _kick_flow(self) -> None:
        if self._flow_task is None or self._flow_task.done():
            self._flow_task = asyncio.get_running_loop().create_task(self._converge())

    async def _converge(self) -> None:
        """Cancel the consumer while too much is held, consume again once it is taken."""
        async with self._flow_lock:
            while True:
                channel, tag = self._consumer, self._consumer_tag
                if channel is None or channel.is_closed:
                    return  # the restore after the reconnect consumes, unless paused
                try:
                    if self._paused and tag is not None:
                        await channel.basic_cancel(tag)
                        if channel is self._consumer:
                            self._consumer_tag = None
                    elif not self._paused and tag is None:
                        tag = await channel.basic_consume(self.queue, self._on_delivery,
                                                          no_ack=True, on_cancel=self._deleted)
                        if channel is self._consumer:
                            self._consumer_tag = tag
                    else:
                        return
                except NotFound:
                    self._deleted()  # while we were not consuming
                    return
                except (AMQPError, ConnectionError, TimeoutError) as exc:
                    log.info("inbox %s: consumer not switched (%r); the next reconnect "
                             "restores it", self.queue, exc)
                    return

    def _deleted(self) -> None:
        """The inbox queue was deleted on the broker (by hand, say): every channel and group
        of this loop would go quiet for good. Reconnect instead: the restore declares the
        queue again under its name and binds the groups, as after any outage."""
        log.warning("inbox %s was deleted on the broker; reconnecting to declare it again",
                    self.queue)
        if self.on_deleted is not None:
            self.on_deleted(ConnectionError(f"inbox {self.queue} was deleted on the broker"))

    def _release_all(self, entries: list[Entry]) -> None:
        for _expires_at, _message, pending, _incoming in entries:
            if pending is not None:
                self._release(pending)

    def _schedule_sweep(self) -> None:
        interval = min(max(self._config.expiry / 2, 0.5), 10.0)
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        for name in list(self._buffers):
            buffer = self._buffers[name]
            expired = buffer.drop_while(lambda entry: entry[0] < now)
            if expired:
                self._release_all(expired)
                self._stats.drop_expired(name, self._config.expiry, len(expired))
            if buffer.idle and now - self._last_receive.get(name, 0.0) > ALIVE_WINDOW:
                del self._buffers[name]
                self._last_receive.pop(name, None)
        self._schedule_sweep()
