"""``runworker``'s worker, made stoppable: SIGTERM and SIGINT end it without losing messages.

Why it exists: Channels' ``Worker`` dies on SIGTERM (the signal Kubernetes and systemd send)
without a word to the broker, and it takes messages from the layer as fast as they come,
acknowledging each one when it is queued in memory for the consumer. A stopped worker then
loses every message it had queued but not yet handled.

This worker takes the next message of a channel only once the consumer has finished the
previous one, so what waits stays unacknowledged in the layer (prefetched) or in the queue.
On the first SIGTERM or SIGINT it stops taking messages, lets the consumer finish the one in
hand (at most ``STOP_GRACE`` seconds), then closes the layer: the broker hands everything
else to the other workers. A second signal stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from channels.worker import Worker

log = logging.getLogger("amqp_channels.worker")

STOP_GRACE = 10.0  # seconds the message in hand may take after a stop signal
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Handoff:
    """One channel's consumer: how many messages it was given, and whether it is idle.

    The consumer asks for its next message only after handling the last one, so it is idle
    once it has asked more often than it was given (one ask is always pending). A consumer
    that ended (it raised) counts as idle: nobody waits for it."""

    def __init__(self) -> None:
        self.given = 0
        self.asked = 0
        self.running = False
        self.idle = asyncio.Event()

    def give(self) -> None:
        self.given += 1
        if self.running:
            self.idle.clear()

    def started(self) -> None:
        """A new consumer instance, made for the message just given: it asks for that one."""
        self.running = True
        self.asked = self.given - 1
        self.idle.clear()

    def ask(self) -> None:
        self.asked += 1
        if self.asked > self.given:
            self.idle.set()

    def ended(self) -> None:
        self.running = False
        self.idle.set()


class StoppableWorker(Worker):  # type: ignore[misc]
    """Channels' ``Worker``, one message in hand per channel, stopped cleanly by a signal."""

    def __init__(self, application: App, channels: list[str], channel_layer: Any,
                 max_applications: int = 1000) -> None:
        self._handoffs: dict[str, _Handoff] = {}
        super().__init__(self._paced(application), channels, channel_layer, max_applications)

    def _paced(self, application: App) -> App:
        """Wrap the ASGI app so each of its ``receive()`` calls is counted per channel."""

        async def paced(scope: Scope, receive: Receive, send: Send) -> None:
            handoff = self._handoffs.setdefault(scope["channel"], _Handoff())
            handoff.started()

            async def next_message() -> Any:
                handoff.ask()
                return await receive()

            try:
                await application(scope, next_message, send)
            finally:
                handoff.ended()

        return paced

    async def handle(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        listeners = [asyncio.ensure_future(self.listener(channel)) for channel in self.channels]
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([*listeners, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            for signum in STOP_SIGNALS:  # a second signal acts at once (default handlers)
                loop.remove_signal_handler(signum)
            for listener in listeners:
                listener.cancel()  # a pending receive() loses nothing when cancelled
            await asyncio.gather(*listeners, return_exceptions=True)
        if stop.is_set():
            log.info("worker: stop signal; finishing the messages in hand, then leaving the "
                     "rest to other workers")
            await self._finish_in_hand()
        close = getattr(self.channel_layer, "close", None)
        if close is not None:
            await close()  # Connection.Close: the broker requeues what we held, for others
        for listener in listeners:  # a listener's own error (e.g. a bad message) is raised
            if not listener.cancelled() and listener.exception() is not None:
                raise listener.exception()  # type: ignore[misc]

    async def _finish_in_hand(self) -> None:
        busy = [handoff.idle.wait() for handoff in self._handoffs.values()]
        try:
            async with asyncio.timeout(STOP_GRACE):
                await asyncio.gather(*busy)
        except TimeoutError:
            log.warning("worker: a message was still being handled after %gs; stopping anyway",
                        STOP_GRACE)

    async def listener(self, channel: str) -> None:
        """Channels' listener, but the next receive waits until the consumer is idle."""
        while True:
            message = await self.channel_layer.receive(channel)
            if not message.get("type", None):
                raise ValueError("Worker received message with no type.")
            queue = self.get_or_create_application_instance(
                channel, {"type": "channel", "channel": channel})
            handoff = self._handoffs.setdefault(channel, _Handoff())
            handoff.give()
            await queue.put(message)
            await handoff.idle.wait()
