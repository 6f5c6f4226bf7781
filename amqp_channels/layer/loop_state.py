"""Everything the layer holds for one event loop, and its lifetime.

Channels calls the layer from Daphne's loop and from ``async_to_sync`` on fresh loops in
other threads. AMQP connections and futures belong to one loop, so the layer keeps one
``LoopState`` per loop: a link (connection), an inbox and the normal-channel consumers.
When the loop shuts down (``asyncio.run`` cancels what is left), the link closes its
connection and the state removes itself: no leaked sockets, no pending tasks destroyed.
A loop that is stopped but never closed (Daphne's, on SIGTERM) is closed at interpreter
exit instead (``at_exit``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import ChannelFull

from .. import amqp
from ..amqp.errors import AccessRefused, AMQPError, NotFound, PreconditionFailed, PublishNacked
from ..amqp.properties import encode_properties
from ..errors import BrokerUnavailable, no_confirm, over_broker_limit
from ..telemetry import Telemetry
from ..telemetry.spans import Outgoing
from .at_exit import close_at_exit
from .config import LayerConfig
from .inbox import Inbox
from .link import Link
from .naming import CHANNEL_HEADER, CONTROL_HEADER, SCHEMA_HEADER, SCHEMA_VERSION, random_token
from .shared_queues import SharedQueues
from .stats import LayerStats
from .wire import Codec

PROPERTIES_CACHE_SIZE = 4096


class LoopState:
    """The connection, inbox and consumers of one layer on one event loop."""

    def __init__(self, config: LayerConfig, codec: Codec, stats: LayerStats,
                 telemetry: Telemetry, on_stopped: Callable[[LoopState], None]) -> None:
        self.config = config
        self.loop = asyncio.get_running_loop()
        self.codec = codec
        self.stats = stats
        self.telemetry = telemetry
        self.token = random_token()
        self.inbox = Inbox(config, codec, stats, self.token, telemetry)
        self.link = Link(config, self._restore, name=f"{config.prefix}.{self.token}")
        self.link.on_return = self._unroutable
        self.inbox.on_deleted = self.link.connection_lost
        self.shared = SharedQueues(config, codec, stats, self.link, telemetry)
        # Weakly: the relay's loop outlives any call, and must not keep a dropped layer alive.
        self._on_stopped = weakref.WeakMethod(on_stopped)
        self._encoded_properties: dict[tuple[tuple[str, Any], ...], bytes] = {}
        # normal-channel queue -> its publishes awaiting a confirm (see publish_to_queue)
        self._in_flight: dict[str, list[_InFlight]] = {}
        # Extensions (groups) keep their per-loop state here and add restore steps.
        self.addons: dict[str, Any] = {}
        self.restore_hooks: list[Callable[[amqp.Connection], Awaitable[None]]] = []
        self.stop_hooks: list[Callable[[], None]] = []
        self.link.start()
        assert self.link._task is not None
        self.link._task.add_done_callback(lambda _task: self._stopped())
        close_at_exit(self)

    async def _restore(self, connection: amqp.Connection) -> None:
        if self.link.generation > 1:
            self.stats.reconnects += 1
        await self.inbox.restore(connection)
        await self.shared.restore(connection)
        for hook in self.restore_hooks:
            await hook(connection)

    def _stopped(self) -> None:
        self.inbox.close()
        for hook in self.stop_hooks:
            hook()
        on_stopped = self._on_stopped()
        if on_stopped is not None:
            on_stopped(self)

    async def publish(self, routing_key: str, body: bytes, headers: dict[str, Any],
                      exchange: str = "", normal_channel: str | None = None,
                      outgoing: Outgoing | None = None, unique: bool = False,
                      in_flight: _InFlight | None = None) -> None:
        """Publish and wait for the broker's confirm, all within ``send_timeout``.

        A nack (the queue is at ``x-max-length``) is ``ChannelFull``. A publish that failed
        before reaching the socket is retried after a reconnect; one that may have reached
        the broker is not (at-most-once), and becomes ``BrokerUnavailable``. For a normal
        channel (``routing_key`` is then its queue) the queue is declared first (once per
        connection), inside the same deadline.
        A traced publish (``outgoing``) carries its trace headers and message id. Headers
        that are ``unique`` to this message are encoded without the properties cache.
        A declare or publish outside the user's permissions is ``PermissionRefused`` at once
        (the connection stays; the next send gets a new publisher channel), and a publish to
        an ``exchange`` that does not exist is ``NotFound``, the same way.
        A direct publish (default exchange) is ``mandatory``: if its queue is gone the
        broker returns it (``_unroutable``) and still confirms it, so the send succeeds
        (``in_flight`` then says it was returned, and it is counted when sent again).
        """
        loop = self.loop
        started = loop.time()
        deadline = started + self.config.send_timeout
        properties = (self._properties(headers) if outgoing is None and not unique
                      else self._encode(headers, outgoing))
        while True:
            publisher = self.link.publisher if self.link.is_ready else None
            if publisher is None:
                publisher = await self.link.ready(max(deadline - loop.time(), 0.001))
            if publisher.is_closed:
                # Closed before we wrote anything (a lost connection, or a refused publish
                # closed just the channel): get a new one, or wait for the reconnect.
                await self.link.reopen_publisher(publisher, max(deadline - loop.time(), 0.001))
                if loop.time() >= deadline:
                    raise self.unavailable(f"send to {normal_channel or routing_key}: "
                                           "the connection is down")
                await asyncio.sleep(0.01)
                continue
            try:
                if normal_channel is not None and not self.shared.is_declared(routing_key):
                    async with asyncio.timeout_at(deadline):
                        await self.shared.declare_once(routing_key, normal_channel)
                # The deadline rides on the publish: the channel's one confirm timer
                # enforces it, so a send sets up no timer of its own.
                await publisher.basic_publish(body, exchange=exchange, routing_key=routing_key,
                                              properties=properties, mandatory=not exchange,
                                              deadline=deadline)
                if in_flight is None or not in_flight.returned:
                    self.stats.sent += 1
                self.telemetry.record_confirm_latency(loop.time() - started)
                return
            except PublishNacked:
                raise ChannelFull(f"queue {routing_key} is at capacity") from None
            except AccessRefused as exc:
                raise self.link.refusal(exc) from exc
            except TimeoutError as exc:
                raise self.unavailable(no_confirm(
                    normal_channel or routing_key, self.config.send_timeout,
                    publisher.connection.blocked)) from exc
            except (AMQPError, ConnectionError) as exc:
                # A message over the broker's size limit, or an exchange that is gone, closes
                # only this publisher channel, and the next send opens another; a reconnect
                # would cost the inbox what waits in it on the broker.
                if isinstance(exc, NotFound) and exchange:
                    raise  # the caller may declare the exchange again
                too_large = (over_broker_limit(exc.reply_text)
                             if isinstance(exc, PreconditionFailed) else None)
                if too_large is not None:
                    raise too_large from exc
                self.link.connection_lost(exc)
                raise self.unavailable(f"send to {normal_channel or routing_key} failed: "
                                       f"{exc!r}") from exc

    async def publish_to_queue(self, queue: str, body: bytes, channel: str,
                               outgoing: Outgoing | None) -> None:
        """``publish`` to normal channel ``channel``, whose queue may have been deleted on
        the broker since this connection declared it. The broker then returns the message,
        routed nowhere, before confirming it; ``_unroutable`` finds it among the publishes
        in flight to that queue by its body, and it is sent once more after the queue is
        declared again. (Two in flight with the same body are interchangeable.)"""
        mine = _InFlight(body)
        in_flight = self._in_flight.setdefault(queue, [])
        in_flight.append(mine)
        try:
            for _attempt in range(2):
                mine.returned = False
                await self.publish(queue, body, {}, normal_channel=channel, outgoing=outgoing,
                                   in_flight=mine)
                if not mine.returned:
                    return
            self.stats.drop("unroutable", f"message to {channel}: no queue {queue}, even "
                            "after declaring it again")
        finally:
            in_flight.remove(mine)
            if not in_flight:
                del self._in_flight[queue]

    def _unroutable(self, returned: amqp.Returned) -> None:
        """A direct message whose queue does not exist: its process is gone (inbox), or a
        normal channel's queue was deleted (declared again by the next send)."""
        queue = returned.routing_key
        declared = self.shared.forget(queue)
        for sent in self._in_flight.get(queue, ()):
            if not sent.returned and sent.body == returned.body:
                sent.returned = True  # publish_to_queue sends it again
                return
        headers = returned.properties.headers or {}
        target = headers.get(CHANNEL_HEADER) or queue
        what = (f"{headers[CONTROL_HEADER]} for" if CONTROL_HEADER in headers
                else "message to")
        why = ("deleted on the broker? the next send declares it again" if declared
               else "its process is gone?")
        self.stats.drop("unroutable", f"{what} {target}: no queue {queue} ({why})")

    def _properties(self, headers: dict[str, Any]) -> bytes:
        """Encoded message properties, cached: a process sends to few distinct targets."""
        key = tuple(headers.items())
        encoded = self._encoded_properties.get(key)
        if encoded is None:
            if len(self._encoded_properties) >= PROPERTIES_CACHE_SIZE:
                self._encoded_properties.clear()
            encoded = self._encoded_properties[key] = self._encode(headers)
        return encoded

    def _encode(self, headers: dict[str, Any], outgoing: Outgoing | None = None) -> bytes:
        """Encoded properties; a traced message's (``outgoing``) are unique to it."""
        return encode_properties(amqp.Properties(
            content_type=self.codec.content_type,
            content_encoding=self.codec.content_encoding,
            headers={**headers, **(outgoing.headers if outgoing else {}),
                     SCHEMA_HEADER: SCHEMA_VERSION},
            delivery_mode=1,
            message_id=outgoing.message_id if outgoing else None,
        ))

    def unavailable(self, reason: str) -> BrokerUnavailable:
        return BrokerUnavailable(self.config.redacted_hosts, reason)

    async def flush(self) -> None:
        self.inbox.flush()
        await self.shared.flush()
        channel = await self.link.open_channel()
        try:
            await channel.queue_purge(self.inbox.queue)
        finally:
            await channel.close()

    async def close(self) -> None:
        for hook in self.stop_hooks:  # first, so nothing starts broker work while we close
            hook()
        await self.link.close()


class _InFlight:
    """A publish to a normal channel's queue, until its confirm: returned or not."""

    __slots__ = ("body", "returned")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.returned = False
