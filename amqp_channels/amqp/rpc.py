"""Matching synchronous replies (DeclareOk, OpenOk, ...) to the request awaiting them.

Why a class of its own: AMQP answers synchronous requests on a channel strictly in order, one
reply per request (or a Channel.Close). When a caller gives up (cancelled or timed out) after
sending, its reply still arrives later; we remember the abandoned request as an *orphan* and
drop its reply when it comes, so it is never mistaken for the answer to the next request.

Callers serialize requests per channel (one lock per channel); this slot holds at most one
live request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["RpcSlot"]

LOGGER = logging.getLogger(__name__)

Expected = type[Any] | tuple[type[Any], ...]


class RpcSlot:
    """The outstanding synchronous request of one channel, and its orphans."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[Any] | None = None
        self._expect: Expected = ()
        self._on_reply: Callable[[Any], None] | None = None
        self._orphans: deque[Expected] = deque()

    async def request(self, write: Callable[[bytes], None], frame: bytes, expect: Expected,
                      on_reply: Callable[[Any], None] | None = None) -> Any:
        """Send ``frame`` and return the reply of type ``expect``.

        ``on_reply`` runs synchronously when the reply is parsed, before any later frame, so
        e.g. a consumer is registered before its first delivery is routed.
        """
        future: asyncio.Future[Any] = self._loop.create_future()
        self._future, self._expect, self._on_reply = future, expect, on_reply
        try:
            write(frame)
            return await future
        finally:
            if self._future is future:
                # Still outstanding: the reply was neither delivered nor failed. (A reply
                # parsed between our cancellation and this line was already consumed by
                # ``deliver``, so it must not become an orphan.)
                self._future, self._on_reply = None, None
                if future.cancelled():
                    self._orphans.append(expect)

    def skip(self, expect: Expected) -> None:
        """A request was sent whose reply nobody awaits: drop that reply when it comes."""
        self._orphans.append(expect)

    def deliver(self, method: Any) -> bool:
        """Route a reply; False if nobody expects a method of this type."""
        if self._orphans and isinstance(method, self._orphans[0]):
            self._orphans.popleft()
            LOGGER.debug("dropped the reply to an abandoned request: %s", method.name)
            return True
        future = self._future
        if future is None or not isinstance(method, self._expect):
            return False
        if self._on_reply is not None:
            self._on_reply(method)
        self._future, self._on_reply = None, None
        if not future.done():
            future.set_result(method)
        return True

    def fail(self, exc: BaseException) -> None:
        """Fail the outstanding request (the channel or connection closed)."""
        future = self._future
        self._future, self._on_reply = None, None
        self._orphans.clear()
        if future is not None and not future.done():
            future.set_exception(exc)
