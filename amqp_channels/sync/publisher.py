"""``SyncPublisher``: ``send`` and ``group_send`` for code that has no event loop.

What it guarantees, matching the async layer:
* the wire format of docs/wire-format.md: the same queue and exchange names, body codec
  and encryption (``layer.wire.Codec``), headers, ``content_type``/``content_encoding`` and
  ``delivery_mode: 1``. It publishes ``amqp.Message`` on the raw channel, because kombu's
  ``Producer.publish`` would add ``content_encoding: binary`` and ``priority: 0``;
* names and messages are checked before anything is sent (``TypeError``, ``ValueError``,
  ``MessageTooLarge``);
* publisher confirms: ``send`` to a full channel raises ``ChannelFull``; ``group_send``
  never does (RabbitMQ still delivers to the member inboxes that have room);
* each publish is traced like the layer's (a PRODUCER span, trace context in the headers)
  when an OpenTelemetry SDK is set up, and costs nothing extra when not; it is counted in
  ``stats`` (a ``LayerStats``: sent, ``ChannelFull``, dropped by reason) and reported through
  the same metrics as the layer's, confirm latency included;
* a ``send`` whose queue is gone (its process ended) is returned by the broker (it is
  published ``mandatory``) and counted as dropped ``unroutable``, as in the layer; a normal
  channel's queue deleted on the broker is declared again and the message sent once more;
* every call ends within ``send_timeout``. Connecting (and declaring) is retried inside
  that deadline, so the first call after a broker restart reconnects by itself; a publish
  that may have reached the broker is never retried (at most once, like the layer). A
  broker that stays away is ``BrokerUnavailable``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from amqp import Message
from amqp.exceptions import AMQPError, MessageNacked
from amqp.exceptions import NotFound as AMQPNotFound
from amqp.exceptions import PreconditionFailed as AMQPPreconditionFailed
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from ..errors import BrokerUnavailable, no_confirm, over_broker_limit
from ..layer.config import LayerConfig
from ..layer.naming import (
    CHANNEL_HEADER,
    GROUP_HEADER,
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    channel_queue,
    group_router,
    inbox_queue,
    inbox_token,
)
from ..layer.stats import LayerStats
from ..layer.wire import Codec
from ..telemetry.spans import Outgoing
from .pool import ProcessPool, drop
from .topology import declare_queue, declare_router

RETRY_FIRST, RETRY_MAX = 0.05, 0.5  # seconds between connection attempts in one call
BROKER_ERRORS = (OSError, AMQPError)  # socket errors (timeouts too) and AMQP errors

# py-amqp reports Connection.Blocked without the broker's reason.
BLOCKED, BLOCKED_FLAG = "a resource alarm, see the broker's log", "_amqp_channels_blocked"

Declare = Callable[[Any], None]  # declares what a publish needs, on a kombu connection


class SyncPublisher:
    """Publishes into an amqp-channels layer from plain threads, forks and Celery workers."""

    def __init__(self, **config: Any) -> None:
        self.config = LayerConfig.from_kwargs(**config)
        self.codec = Codec(self.config)
        # Channels' own name checks (length, characters), so errors match the layer's.
        self._names = BaseChannelLayer(expiry=self.config.expiry, capacity=self.config.capacity)
        self._router = group_router(self.config.prefix)
        self._pool = ProcessPool(self.config)
        self.telemetry = self.config.make_telemetry()
        self.stats = LayerStats()
        self._counting = threading.Lock()  # many threads publish; += is not atomic
        self._returns = threading.local()  # .seen: a return during this thread's publish
        self.telemetry.watch(self.config.prefix, self.stats)

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` to ``channel``; raise ``ChannelFull`` when it is at capacity."""
        self._names.require_valid_channel_name(channel)
        if "!" in channel:
            queue = inbox_queue(self.config.prefix, inbox_token(channel))
            # No declare: an inbox lives as long as its owner; without one this is a miss.
            headers, declare = {CHANNEL_HEADER: channel}, None
        else:
            queue = channel_queue(self.config.prefix, channel)
            headers = {}

            def declare(c: Any) -> None:
                declare_queue(c, self.config, queue, channel)
        with self.telemetry.producer("send", channel, exchange="",
                                     routing_key=queue) as outgoing:
            try:
                self._publish(self.codec.encode(message), headers, "", queue,
                              target=channel, declare=declare, outgoing=outgoing)
            except ChannelFull:
                with self._counting:
                    self.stats.channel_full += 1  # only here: group_send never raises it
                raise

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``; full members are skipped."""
        self._names.require_valid_group_name(group)
        with self.telemetry.producer("group_send", group, exchange=self._router,
                                     routing_key=group) as outgoing:
            body = self.codec.encode(message)
            try:
                self._publish(body, {GROUP_HEADER: group}, self._router, group,
                              target=f"group {group}", outgoing=outgoing,
                              declare=lambda c: declare_router(c, self._router))
            except ChannelFull:
                # A member process's inbox is full; the others got it.
                self._drop("group-inbox-full", f"a member inbox of {group} is full")

    def close(self) -> None:
        """Close this process's connections; a later call opens new ones."""
        self._pool.close()

    def _publish(self, body: bytes, headers: dict[str, Any], exchange: str, routing_key: str,
                 *, target: str, declare: Declare | None = None,
                 outgoing: Outgoing | None = None) -> None:
        deadline = time.monotonic() + self.config.send_timeout
        traced: dict[str, Any] = {}
        if outgoing is not None:  # trace context and a message id
            headers = {**headers, **outgoing.headers}
            traced["message_id"] = outgoing.message_id
        message = Message(
            body,
            content_type=self.codec.content_type,
            content_encoding=self.codec.content_encoding,
            application_headers={**headers, SCHEMA_HEADER: SCHEMA_VERSION},
            delivery_mode=1,
            **traced,
        )
        with self._pool.lease(deadline) as connection:
            for attempt in range(2):
                channel = self._ready(connection, deadline, target, declare)
                channel.events["basic_return"].add(self._returned)  # a set: added once
                self._returns.seen = False
                started = time.monotonic()
                try:
                    channel.basic_publish_confirm(
                        message, exchange=exchange, routing_key=routing_key,
                        mandatory=not exchange,  # direct: a gone queue is returned
                        timeout=_remaining(deadline), confirm_timeout=_remaining(deadline),
                    )
                except MessageNacked:
                    raise ChannelFull(f"queue {routing_key} is at capacity") from None
                except TimeoutError as exc:
                    blocked = (BLOCKED if getattr(connection.connection, BLOCKED_FLAG, False)
                               else None)
                    drop(connection)  # a late confirm must not answer the next publish
                    raise self._unavailable(
                        no_confirm(target, self.config.send_timeout, blocked)) from exc
                except BROKER_ERRORS as exc:
                    drop(connection)
                    if isinstance(exc, AMQPNotFound) and exchange and attempt == 0:
                        # The router was deleted (by hand?): the next connection declares it.
                        continue
                    too_large = (over_broker_limit(str(exc.reply_text))
                                 if isinstance(exc, AMQPPreconditionFailed) else None)
                    if too_large is not None:
                        raise too_large from exc
                    raise self._unavailable(f"send to {target} failed: {exc!r}") from exc
                # The broker returns a message before it confirms it, and this thread holds
                # the connection: a return seen now is this message's.
                if not self._returns.seen:
                    break
                if declare is not None and not exchange and attempt == 0:
                    # A normal channel's queue was deleted on the broker since this
                    # connection declared it. Nothing was routed, so declaring it again and
                    # publishing again cannot deliver the message twice.
                    connection.declared_entities.discard(routing_key)
                    continue
                why = "its process is gone?" if declare is None else "deleted on the broker?"
                self._drop("unroutable", f"message to {target}: no queue {routing_key} ({why})")
                break
        with self._counting:
            self.stats.sent += 1
        self.telemetry.record_confirm_latency(time.monotonic() - started)

    def _returned(self, _exc: Exception, _exchange: str, _routing_key: str,
                  _message: Any) -> None:
        """py-amqp's ``basic_return`` event, in the publishing thread: a direct message
        whose queue does not exist (``_publish`` decides what to do about it)."""
        self._returns.seen = True

    def _drop(self, reason: str, detail: str) -> None:
        with self._counting:
            self.stats.drop(reason, detail)

    def _ready(self, connection: Any, deadline: float, target: str,
               declare: Declare | None) -> Any:
        """A live confirm channel, the target declared: retried until ``deadline``."""
        delay = RETRY_FIRST
        while True:
            try:
                _connect(connection, deadline, self.config.connect_timeout)
                if declare is not None:
                    declare(connection)
                return connection.default_channel
            except BROKER_ERRORS as exc:
                drop(connection)
                if _remaining(deadline) <= delay:
                    raise self._unavailable(
                        f"could not connect for a send to {target} within send_timeout "
                        f"({self.config.send_timeout:g}s); last error: {exc!r}") from exc
                connection.maybe_switch_next()  # the next host in ``hosts``, if any
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _unavailable(self, reason: str) -> BrokerUnavailable:
        return BrokerUnavailable(self.config.redacted_hosts, reason)


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _watch_blocking(raw: Any) -> None:
    """Remember on a py-amqp connection whether RabbitMQ blocks its publishes (an alarm)."""
    setattr(raw, BLOCKED_FLAG, False)
    raw.on_blocked = lambda _reason: setattr(raw, BLOCKED_FLAG, True)
    raw.on_unblocked = lambda: setattr(raw, BLOCKED_FLAG, False)


def _connect(connection: Any, deadline: float, connect_timeout: float) -> None:
    """Connect if needed, and prove an idle pooled connection is still alive.

    A connection the broker closed while it sat in the pool (a restart) has a
    ``connection.close`` frame or EOF waiting: reading it now raises before we publish,
    so the call can reconnect and still publish at most once."""
    if connection.connected:
        raw = connection.connection
        try:
            raw.drain_events(timeout=0)
        except TimeoutError:
            pass  # nothing waiting: alive
    else:
        connection.connect_timeout = min(connect_timeout, _remaining(deadline))
        # One attempt: retries (and their pauses) are the caller's, inside its deadline.
        connection.ensure_connection(max_retries=0, reraise_as_library_errors=False)
        raw = connection.connection
        _watch_blocking(raw)
    # Bound every blocking read and write of this call (declares, publish, confirm).
    raw.transport.sock.settimeout(_remaining(deadline))
