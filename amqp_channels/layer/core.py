"""``AMQPChannelLayer``: the Channels layer API on RabbitMQ.

The public methods are the spec's verbs. Each call validates its input first (names,
message shape, serialization, size), so bad input raises before anything is sent, then
works on the ``LoopState`` of the running event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar, TypeVar

from channels.exceptions import ChannelFull, MessageTooLarge
from channels.layers import BaseChannelLayer

from ..errors import ForeignChannel
from ..telemetry.spans import Outgoing
from .config import LayerConfig
from .loop_state import LoopState
from .naming import CHANNEL_HEADER, channel_queue, inbox_queue, inbox_token, random_token
from .relay import Relay, take_from
from .shared_queues import Consumer
from .stats import LayerStats
from .wire import Codec

T = TypeVar("T")

#: Channel names whose check and queue are remembered; past this many, start over.
ROUTE_CACHE_SIZE = 4096


def buffered(states: Mapping[asyncio.AbstractEventLoop, LoopState]) -> int:
    """Messages held in local buffers, all loops (read by the metrics exporter thread).

    A function of the states, not a method: the telemetry holding it, which the relay's
    loop keeps, must not keep a dropped layer alive."""
    return sum(state.inbox.buffered for state in list(states.values()))


class CoreChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    """Channels (process-specific and normal) on RabbitMQ, without groups.

    ``amqp_channels.layer.AMQPChannelLayer`` adds the groups extension on top of it."""

    extensions: ClassVar[list[str]] = ["flush"]
    ChannelFull = ChannelFull
    MessageTooLarge = MessageTooLarge

    def __init__(self, **config: Any) -> None:
        self.config = LayerConfig.from_kwargs(**config)
        super().__init__(expiry=self.config.expiry, capacity=self.config.capacity)
        # BaseChannelLayer keeps these for get_capacity(); ours are already compiled.
        self.channel_capacity = list(self.config.channel_capacity)
        self.group_expiry = self.config.group_expiry
        self.prefix = self.config.prefix
        self.codec = Codec(self.config)
        self.stats = LayerStats()
        self.telemetry = self.config.make_telemetry()
        self._routes: dict[str, str] = {}  # checked channel name -> its queue
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self.telemetry.watch(self.prefix, self.stats, functools.partial(buffered, self._states))
        self._relay = Relay(self.prefix)
        # A layer dropped without close() (Django drops them when settings change) takes
        # its relay thread and connection with it.
        weakref.finalize(self, self._relay.stop_soon)

    def _state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._new_state(loop)
        return state

    def _new_state(self, loop: asyncio.AbstractEventLoop) -> LoopState:
        state = self._states[loop] = LoopState(
            self.config, self.codec, self.stats, self.telemetry, self._forget
        )
        self._attach(state)
        return state

    def _local_state(self) -> LoopState | None:
        """This loop's state, or None when this call goes through the relay (relay.py)."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None and not self._relay.takes(loop):
            state = self._new_state(loop)
        return state

    async def _here_or_relayed(self, act: Callable[[LoopState], Coroutine[Any, Any, T]]) -> T:
        """``act`` on this loop's state, or on the relay's for a short-lived loop."""
        state = self._local_state()
        if state is None:
            return await self._relay.run(self._act_here, act)
        return await act(state)

    async def _act_here(self, act: Callable[[LoopState], Coroutine[Any, Any, T]]) -> T:
        return await act(self._state())

    def _attach(self, state: LoopState) -> None:
        """Extensions hook in here, before the new loop state first connects."""

    def _forget(self, state: LoopState) -> None:
        for loop, known in list(self._states.items()):
            if known is state:
                del self._states[loop]

    def _route(self, channel: str) -> str:
        """Check ``channel`` (``TypeError`` when invalid) and return the queue it lives on.

        Remembered per name: a process sends to and receives from the same few channels
        over and over, and the check is a regular expression."""
        route = self._routes.get(channel) if type(channel) is str else None
        if route is None:
            self.require_valid_channel_name(channel)
            route = (inbox_queue(self.prefix, inbox_token(channel)) if "!" in channel
                     else channel_queue(self.prefix, channel))
            if len(self._routes) >= ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[channel] = route
        return route

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` to ``channel``; raise ``ChannelFull`` when it is at capacity."""
        routing_key = self._route(channel)
        with self.telemetry.producer("send", channel, exchange="",
                                     routing_key=routing_key) as outgoing:
            try:
                # _here_or_relayed written out: no closure on the hot path.
                state = self._local_state()
                if state is None:
                    await self._relay.run(self._act_here, lambda here: self._send(
                        here, channel, routing_key, message, outgoing))
                else:
                    await self._send(state, channel, routing_key, message, outgoing)
            except ChannelFull:
                self.stats.channel_full += 1  # only here: group_send never raises it
                raise

    async def _send(self, state: LoopState, channel: str, routing_key: str,
                    message: dict[str, Any], outgoing: Outgoing | None) -> None:
        body = self.codec.encode(message)
        if "!" not in channel:
            await state.publish_to_queue(routing_key, body, channel, outgoing)
            return
        if routing_key == state.inbox.queue:
            # Our own process-specific channel: hand it over locally, as a copy.
            if state.inbox.is_full(channel):
                raise ChannelFull(f"channel {channel} is at capacity")
            decoded = self.codec.decode(body, self.codec.content_type, self.codec.content_encoding)
            state.inbox.deliver(channel, decoded, incoming=None if outgoing is None
                                else outgoing.delivered_locally(channel))
            self.stats.sent += 1
            return
        await state.publish(routing_key, body, {CHANNEL_HEADER: channel}, outgoing=outgoing)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message on ``channel``; waits until one arrives (cancellation-safe)."""
        route = self._route(channel)
        if "!" in channel:
            state = self._states.get(asyncio.get_running_loop())
            if state is None or route != state.inbox.queue:
                return await self._receive_elsewhere(channel, route)
            message = await state.inbox.receive(channel)
            self.stats.received += 1
            return message
        local = self._local_state()
        if local is None:
            return await self._receive_relayed(channel)
        return await local.shared.receive(channel)

    async def _receive_relayed(self, channel: str) -> dict[str, Any]:
        """A normal-channel receive from a loop that lives for one call (``async_to_sync``
        in a thread), taken from the relay's consumer instead of a connection of its own.
        The delivery is acked on the relay once this caller has it; if the caller was
        cancelled first, it goes back unacked for the next receive."""
        relay = self._relay.loop()

        def consumer() -> Consumer:  # on the relay's loop
            return self._state().shared.consumer(channel)

        held = await take_from(relay, lambda: consumer().take(),
                               lambda taken: consumer().give_back(taken))
        with contextlib.suppress(RuntimeError):  # the relay ended: the broker requeues it
            relay.call_soon_threadsafe(lambda: consumer().hand_out(held))
        return held.message

    async def _receive_elsewhere(self, channel: str, route: str) -> dict[str, Any]:
        """Receive on a channel another loop of this layer made (the relay's, say)."""
        owner = next((state for state in list(self._states.values())
                      if state.inbox.queue == route), None)
        if owner is None or not owner.loop.is_running():
            raise ForeignChannel(
                f"process-specific channel {channel!r} was not made by new_channel() of this "
                "layer in this process, or the event loop that made it has ended"
            )
        inbox = owner.inbox
        message = await take_from(owner.loop, lambda: inbox.receive(channel),
                                  lambda taken: inbox.put_back(channel, taken))
        self.stats.received += 1
        return message

    async def new_channel(self, prefix: str = "specific") -> str:
        """A new process-specific channel name, receivable once this returns."""
        return await self._here_or_relayed(lambda state: self._new_channel(state, prefix))

    async def _new_channel(self, state: LoopState, prefix: str) -> str:
        name = f"{prefix}.{state.token}!{random_token()}"
        self.require_valid_channel_name(name)
        await state.link.ready(self.config.connect_timeout)
        return name

    async def flush(self) -> None:
        """Drop every message, queue and group membership this layer holds on this loop."""
        await self._here_or_relayed(self._flush)

    async def _flush(self, state: LoopState) -> None:
        await state.link.ready(self.config.send_timeout)
        await state.flush()

    async def close(self) -> None:
        """Close this loop's connection and the relay's; other loops' close when they end."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.close()
        await self._relay.close()
