"""Calls from event loops that live for one call, run on one long-lived loop instead.

Why it exists: ``async_to_sync(channel_layer.group_send)(...)`` from a Django view, signal
or Celery task, the pattern the Channels docs show for code outside consumers, runs each
call on a new event loop in a new thread (asgiref), which is closed right after. The layer
keeps a connection and an inbox per loop, so every such call would open and close an AMQP
connection (about 10 ms here), and a channel made by ``async_to_sync(new_channel)`` would
die with its loop before anyone could read it. The relay is one daemon thread running one
loop for the whole layer: the first call of a loop outside the main thread (``send``,
``group_send``, ``new_channel``, ``group_add``, ``group_discard``, ``flush``, and
``receive`` on a normal channel) runs there, so short-lived loops share one connection,
and channels they make live on the relay's inbox.

Invariants:
* only a loop's first call is relayed: a loop that calls again evidently lives, and gets
  its own state (a long-lived loop pays one thread hop, once);
* loops in the main thread (Daphne, runworker, tests) are never relayed;
* the caller's context (tracing) travels with the call, and cancelling the caller cancels
  it; every wait on the relay is bounded by the call's own deadline;
* a receive on a channel another live loop made (the relay's, say) runs on that loop
  (``take_from``), and a message taken for a caller that was cancelled meanwhile goes back;
  so does a relayed receive on a normal channel, whose delivery is acked only once the
  caller has it;
* the relay's loop is shut down as ``asyncio.run`` does (its link closes its connection)
  by ``close()``, at interpreter exit, and is started again on the next call; a forked
  child starts its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..errors import ForeignChannel

T = TypeVar("T")

START_TIMEOUT = 10.0  # starting a thread and a loop; seconds only if the machine stalls
STOP_TIMEOUT = 10.0  # the link's own close is bounded well under this


class Relay:
    """A daemon thread with an event loop that runs the calls of short-lived loops."""

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
        """Whether this call from ``loop`` (which has no state yet) should be relayed."""
        if threading.current_thread() is threading.main_thread():
            return False
        if loop in self._seen:
            return False  # its second call: a loop that lives gets its own connection
        self._seen.add(loop)
        return True

    async def run(self, call: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``call(*args)`` on the relay's loop and return what it returns."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            call(*args), self.loop())
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the caller was cancelled
            # The relay's loop was shut down under the call (close() from elsewhere): not
            # a cancellation of the caller, so it must not look like one.
            raise RuntimeError("the layer was closed during this call") from None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The relay's running loop, started if need be."""
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
        if thread is not None and self._signal(loop, stop):
            thread.join(STOP_TIMEOUT)

    def stop_soon(self) -> None:
        """Tell the relay's loop to shut down, without waiting (safe from any thread, and
        without the lock: a finalizer may run while this thread holds it)."""
        self._signal(self._loop, self._stop)

    def _signal(self, loop: asyncio.AbstractEventLoop | None,
                stop: asyncio.Event | None) -> bool:
        """Ask ``loop`` to end ``serve()``; False when there is nothing of ours to stop."""
        if loop is None or stop is None or self._pid != os.getpid():
            return False
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:
            return False  # its loop is already closed
        return True

    async def close(self) -> None:
        """``stop()`` without blocking the calling loop."""
        if self._loop is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.stop)


async def take_from(loop: asyncio.AbstractEventLoop,
                    take: Callable[[], Coroutine[Any, Any, T]],
                    give_back: Callable[[T], None]) -> T:
    """Run ``take()`` on another running ``loop`` and return its result, losing nothing.

    For a receive on a channel another loop of this process owns (the relay's, say). If the
    caller is cancelled after ``take()`` got its item, ``give_back(item)`` runs on ``loop``
    so the next receiver gets it; cancelling the caller cancels ``take()`` too.
    """
    caller = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = caller.create_future()
    started: list[asyncio.Task[T]] = []

    def settle(task: asyncio.Task[T]) -> None:  # on the caller's loop
        if waiter.done():  # the caller gave up: return what was taken
            if not task.cancelled() and task.exception() is None:
                with contextlib.suppress(RuntimeError):  # unless its owner has ended too
                    loop.call_soon_threadsafe(give_back, task.result())
        elif task.cancelled():
            waiter.set_exception(ForeignChannel("the event loop that owns the channel ended"))
        elif (error := task.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(task.result())

    def finished(task: asyncio.Task[T]) -> None:  # on ``loop``
        try:
            caller.call_soon_threadsafe(settle, task)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            if not task.cancelled() and task.exception() is None:
                give_back(task.result())

    def start() -> None:  # on ``loop``
        task = loop.create_task(take())
        started.append(task)
        task.add_done_callback(finished)

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:  # closed since the caller looked
        raise ForeignChannel("the event loop that owns the channel ended") from None
    try:
        return await waiter
    except asyncio.CancelledError:
        # Runs after start() on ``loop`` (its callbacks run in order).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in started])
        raise
