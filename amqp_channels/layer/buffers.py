"""A local FIFO with waiting receivers that survives cancellation.

Channels cancels a consumer's pending ``receive()`` when the consumer stops. If a message
was handed to that receiver in the same loop iteration as the cancellation, it must go back
to the front of the buffer so the next ``receive()`` gets it: nothing is lost, order holds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ChannelBuffer(Generic[T]):
    """FIFO of items for one channel, with receivers served in arrival order."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiters: deque[asyncio.Future[T]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> bool:
        """No item held and nobody waiting: the buffer may be forgotten."""
        return not self._items and not self._waiters

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def put(self, item: T) -> None:
        """Hand ``item`` to the oldest waiting receiver, or queue it."""
        if not self._hand_over(item):
            self._items.append(item)

    def put_back(self, item: T) -> None:
        """Return an item taken by a receiver that was cancelled: it goes first."""
        if not self._hand_over(item):
            self._items.appendleft(item)

    def _hand_over(self, item: T) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    async def get(self) -> T:
        """The next item; waits without bound (callers bound it if they need to)."""
        if self._items:
            return self._items.popleft()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Delivered and cancelled in the same iteration: give it to the next one.
                self.put_back(waiter.result())
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def drop_while(self, predicate: Callable[[T], bool]) -> list[T]:
        """Remove items from the front while ``predicate`` holds; return them."""
        dropped = []
        while self._items and predicate(self._items[0]):
            dropped.append(self._items.popleft())
        return dropped

    def clear(self) -> list[T]:
        items = list(self._items)
        self._items.clear()
        return items

