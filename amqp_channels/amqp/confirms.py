"""Publisher confirms: one future per published message, settled by Basic.Ack / Basic.Nack.

Why a class of its own: it is the publish hot path's bookkeeping and has one invariant worth
isolating. Delivery tags count up from 1 per channel; a ``multiple`` ack or nack settles every
tag up to and including its own. ``_floor`` is the lowest tag that may still be pending, so a
``multiple`` settles ``range(_floor, tag + 1)`` in time proportional to the messages it covers.

Futures resolve to True (acked) or False (nacked); the publisher raises ``PublishNacked``
itself, so nacks cost no exception object per future. A publisher that was cancelled leaves
a cancelled future, which settling skips.

Deadlines: a publish may give the loop time by which its confirm must arrive; past it the
future fails with ``TimeoutError``. One timer per channel watches the earliest deadline, so
a bounded publish costs no timer of its own (a per-publish ``asyncio.timeout`` was the
largest single cost of a send).
"""

from __future__ import annotations

import asyncio
import math

from .errors import AMQPError, renew

__all__ = ["Confirms"]


class Confirms:
    """Outstanding confirms of one channel."""

    __slots__ = ("_floor", "_loop", "_next_tag", "_pending", "_watch", "_watch_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._next_tag = 1
        self._floor = 1
        # tag -> (future, deadline in loop time; inf when unbounded)
        self._pending: dict[int, tuple[asyncio.Future[bool], float]] = {}
        self._watch: asyncio.TimerHandle | None = None
        self._watch_at = math.inf

    def track(self, deadline: float = math.inf) -> asyncio.Future[bool]:
        """A future for the message about to be published (call right before writing it),
        failed with ``TimeoutError`` if no confirm arrived by ``deadline`` (loop time)."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._pending[self._next_tag] = (future, deadline)
        self._next_tag += 1
        if deadline < self._watch_at:
            self._watch_until(deadline)
        return future

    def settle(self, tag: int, multiple: bool, acked: bool) -> None:
        """Apply a Basic.Ack (``acked``) or Basic.Nack from the broker."""
        pending = self._pending
        if multiple:
            for each in range(self._floor, tag + 1):
                entry = pending.pop(each, None)
                if entry is not None and not entry[0].done():
                    entry[0].set_result(acked)
            self._floor = tag + 1
            return
        entry = pending.pop(tag, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(acked)
        if tag == self._floor:
            self._floor = tag + 1

    def fail(self, exc: AMQPError) -> None:
        """Fail every outstanding confirm (the channel or connection closed)."""
        self._unwatch()
        pending, self._pending = self._pending, {}
        for future, _deadline in pending.values():
            if not future.done():
                future.set_exception(renew(exc))

    def _watch_until(self, deadline: float) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._watch_at = deadline
        self._watch = self._loop.call_at(deadline, self._expire)

    def _unwatch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._watch, self._watch_at = None, math.inf

    def _expire(self) -> None:
        """Fail the confirms whose deadline passed; watch the earliest one left."""
        self._watch, self._watch_at = None, math.inf
        now = self._loop.time()
        earliest, expired = math.inf, []
        for tag, (_future, deadline) in self._pending.items():
            if deadline <= now:
                expired.append(tag)
            elif deadline < earliest:
                earliest = deadline
        for tag in expired:
            future, _deadline = self._pending.pop(tag)
            if not future.done():
                future.set_exception(TimeoutError("no publisher confirm by the deadline"))
        if earliest < math.inf:
            self._watch_until(earliest)
