"""The broker objects behind groups, for one connection.

* ``{prefix}.groups``: one direct exchange every ``group_send`` publishes to, with the group
  name as routing key. Publishing to an exchange that does not exist closes the AMQP
  channel; publishing to this one, which always exists, with a key nobody bound is a cheap
  no-op: an empty or unknown group costs nothing and breaks nothing.
* ``{prefix}.group.NAME``: a fanout exchange per group (visible in the management UI),
  bound to the router with key NAME, and auto-deleted by RabbitMQ once the last member
  process unbinds its inbox, so empty groups leave nothing behind.
* With ``group_exchanges`` off, no exchange per group: member queues are bound to the router
  with key NAME. The same messages reach the same queues, for a third of the broker's work
  per join and leave (no exchange to declare, bind and delete). The two can mix in one
  deployment, as the router routes by key to both.

All are transient, like the exclusive inboxes bound to them: semi-durable bindings (durable
exchange to transient queue) are deprecated in RabbitMQ.
"""

from __future__ import annotations

from .. import amqp
from ..amqp.errors import NotFound
from ..layer.config import LayerConfig
from ..layer.link import Link
from ..layer.naming import ROUTER_TYPE, group_exchange, group_router

BIND_ATTEMPTS = 3


class GroupTopology:
    """Declares, binds and unbinds group exchanges over one topology AMQP channel."""

    def __init__(self, config: LayerConfig, link: Link) -> None:
        self._prefix = config.prefix
        self._link = link
        self._channel: amqp.Channel | None = None
        self._exchanges = config.group_exchanges
        self.router = group_router(config.prefix)

    def reset(self) -> None:
        """Forget the AMQP channel of a connection that is gone."""
        self._channel = None

    async def _amqp(self) -> amqp.Channel:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._link.open_channel()
        return self._channel

    async def declare_router(self) -> None:
        channel = await self._amqp()
        await channel.exchange_declare(exchange=self.router, exchange_type=ROUTER_TYPE)

    async def bind(self, group: str, queue: str) -> None:
        """Make ``queue`` receive what is sent to ``group`` (idempotent)."""
        for attempt in range(BIND_ATTEMPTS):
            channel = await self._amqp()
            try:
                # Pipelined: the broker handles a channel's frames in order, so the reply to
                # the last request proves the ones before it succeeded (one round trip
                # instead of three; a failure of any closes the channel and raises here).
                if attempt:
                    channel.exchange_declare_nowait(self.router, ROUTER_TYPE)
                if not self._exchanges:
                    await channel.queue_bind(queue, self.router, routing_key=group)
                    return
                exchange = group_exchange(self._prefix, group)
                channel.exchange_declare_nowait(exchange, "fanout", auto_delete=True)
                channel.queue_bind_nowait(queue, exchange)
                await channel.exchange_bind(destination=exchange, source=self.router,
                                            routing_key=group)
                return
            except NotFound:
                # Another process's unbind auto-deleted the exchange between our declare
                # and bind, or the router was deleted (by hand, say): declare both again.
                if attempt == BIND_ATTEMPTS - 1:
                    raise

    async def unbind(self, group: str, queue: str, *, wait: bool = True) -> None:
        """Stop ``queue`` receiving ``group``; a group exchange goes when nobody is left.

        ``wait=False`` returns without the broker's answer: the broker handles the channel's
        frames in order, so the next bind waits behind it and a group_add/group_discard
        pair costs one round trip instead of two. Only for what cannot depend on the
        binding being gone yet (an inbox, whose fan-out already skips non-members)."""
        channel = await self._amqp()
        exchange, key = ((group_exchange(self._prefix, group), "") if self._exchanges
                         else (self.router, group))
        try:
            if wait:
                await channel.queue_unbind(queue=queue, exchange=exchange, routing_key=key)
            else:
                await channel.queue_unbind_nowait(queue=queue, exchange=exchange,
                                                  routing_key=key)
        except NotFound:
            pass  # already gone: nothing was bound
