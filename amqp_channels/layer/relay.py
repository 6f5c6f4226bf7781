"""Publishes from event loops that live for one call, on one long-lived loop instead.

Why it exists: ``async_to_sync(channel_layer.group_send)(...)`` from a Django view, signal
or Celery task, the pattern the Channels docs show for code outside consumers, runs each
call on a new event loop in a new thread (asgiref), which is closed right after. The layer
keeps a connection per loop, so every such call would open and close an AMQP connection
(about 10 ms here). The relay is one daemon thread running one loop for the whole layer:
the first publish of a loop outside the main thread goes there, so short-lived loops share
one connection.

Invariants:
* only a loop's first publish is relayed: a loop that publishes again evidently lives, and
  gets its own state (a long-lived loop pays one thread hop, once);
* loops in the main thread (Daphne, runworker, tests) are never relayed;
* the caller's context (tracing) travels with the publish, and cancelling the caller
  cancels the publish; every wait on the relay is bounded by the publish's own deadline;
* the relay's loop is shut down as ``asyncio.run`` does (its link closes its connection)
  by ``close()``, at interpreter exit, and is started again on the next publish; a forked
  child starts its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

START_TIMEOUT = 10.0  # starting a thread and a loop; seconds only if the machine stalls
STOP_TIMEOUT = 10.0  # the link's own close is bounded well under this


class Relay:
    """A daemon thread with an event loop that runs publishes for short-lived loops."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._seen: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._exit_hook = False

    def takes(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether this publish from ``loop`` (which has no state yet) should be relayed."""
        if threading.current_thread() is threading.main_thread() or loop is self._loop:
            return False
        if loop in self._seen:
            return False  # its second publish: a loop that lives gets its own connection
        self._seen.add(loop)
        return True

    async def run(self, publish: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``publish(*args)`` on the relay's loop and return what it returns."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            publish(*args), self._running_loop())
        return await asyncio.wrap_future(future)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self._pid == os.getpid():
                return self._loop
            started = threading.Event()
            thread = threading.Thread(target=self._serve, args=(started,),
                                      name=f"amqp-channels relay {self._name}", daemon=True)
            thread.start()
            if not started.wait(START_TIMEOUT) or self._loop is None:
                raise RuntimeError("the layer's relay thread did not start")
            self._thread, self._pid = thread, os.getpid()
            if not self._exit_hook:
                atexit.register(self.stop)
                self._exit_hook = True
            return self._loop

    def _serve(self, started: threading.Event) -> None:
        async def serve() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            started.set()
            await self._stop.wait()

        # asyncio.run cancels what is left when serve() returns: the layer's link task
        # then closes its connection, as for any loop that ends.
        asyncio.run(serve())

    def stop(self) -> None:
        """Shut the relay's loop down and wait (bounded) until its connection is closed."""
        with self._lock:
            loop, stop, thread = self._loop, self._stop, self._thread
            self._loop = self._stop = self._thread = None
        if loop is None or stop is None or thread is None or self._pid != os.getpid():
            return
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:
            return  # its loop is already closed
        thread.join(STOP_TIMEOUT)

    async def close(self) -> None:
        """``stop()`` without blocking the calling loop."""
        if self._loop is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.stop)
