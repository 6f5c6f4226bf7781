"""Publisher confirms: one future per published message, settled by Basic.Ack / Basic.Nack.

Why a class of its own: it is the publish hot path's bookkeeping and has one invariant worth
isolating. Delivery tags count up from 1 per channel; a ``multiple`` ack or nack settles every
tag up to and including its own. ``_floor`` is the lowest tag that may still be pending, so a
``multiple`` settles ``range(_floor, tag + 1)`` in time proportional to the messages it covers.

Futures resolve to True (acked) or False (nacked); the publisher raises ``PublishNacked``
itself, so nacks cost no exception object per future. A publisher that was cancelled leaves
a cancelled future, which settling skips.
"""

from __future__ import annotations

import asyncio

from .errors import AMQPError, renew

__all__ = ["Confirms"]


class Confirms:
    """Outstanding confirms of one channel."""

    __slots__ = ("_floor", "_loop", "_next_tag", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._next_tag = 1
        self._floor = 1
        self._pending: dict[int, asyncio.Future[bool]] = {}

    def track(self) -> asyncio.Future[bool]:
        """A future for the message about to be published (call right before writing it)."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._pending[self._next_tag] = future
        self._next_tag += 1
        return future

    def settle(self, tag: int, multiple: bool, acked: bool) -> None:
        """Apply a Basic.Ack (``acked``) or Basic.Nack from the broker."""
        pending = self._pending
        if multiple:
            for each in range(self._floor, tag + 1):
                future = pending.pop(each, None)
                if future is not None and not future.done():
                    future.set_result(acked)
            self._floor = tag + 1
            return
        future = pending.pop(tag, None)
        if future is not None and not future.done():
            future.set_result(acked)
        if tag == self._floor:
            self._floor = tag + 1

    def fail(self, exc: AMQPError) -> None:
        """Fail every outstanding confirm (the channel or connection closed)."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(renew(exc))
