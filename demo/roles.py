"""What each demo process does with the channel layer.

Every role runs in its own spawned process (see ``demo.crew``), builds its own
``AMQPChannelLayer(hosts=[url], prefix="demo")``, and returns a dict of what it measured.
Every wait on the layer or on the parent is bounded; a role that runs into a bound fails with
a message that says which wait it was.

``send`` may legitimately raise ``ChannelFull`` when a receiver falls ``capacity`` messages
behind: the senders here back off and retry, and count how often, as a real producer would.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

PANGRAM = "The quick brown fox jumps over the lazy dog."
CLOSE_TIMEOUT = 10.0
SEND_TIMEOUT = 10.0


class RoleError(RuntimeError):
    """A role's bounded wait ran out, or what it received was not what was sent."""


@dataclass
class Shared:
    """What a role gets from the parent: the broker URL and the control plumbing."""

    url: str
    inbox: Queue[Any]
    events: Queue[tuple[str, str, Any]]
    stop_event: Event
    tasks_done: Synchronized[int]

    def report(self, role: str, kind: str, payload: Any = None) -> None:
        self.events.put((role, kind, payload))

    async def from_parent(self, what: str, seconds: float) -> Any:
        """Wait (in a thread, so the event loop keeps running) for the parent's next message."""
        try:
            return await asyncio.to_thread(self.inbox.get, True, seconds)
        except queue.Empty:
            raise RoleError(f"the parent did not send {what} within {seconds:.0f} s") from None


def demo_message(n: int) -> dict[str, Any]:
    """The n-th message of the one-way stream; receivers check what arrives against it."""
    return {"type": "demo.message", "n": n, "text": f"message {n}: {PANGRAM}"}


@asynccontextmanager
async def open_layer(url: str) -> AsyncIterator[Any]:
    """A channel layer for this process, closed (within a bound) when the role ends."""
    from amqp_channels.layer import AMQPChannelLayer

    layer = AMQPChannelLayer(hosts=[url], prefix="demo")
    try:
        yield layer
    finally:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await layer.close()


async def send(layer: Any, channel: str, message: dict[str, Any]) -> int:
    """Send, retrying on ChannelFull with a short backoff; return how many retries it took."""
    from channels.exceptions import ChannelFull

    retries, pause = 0, 0.001
    deadline = time.monotonic() + SEND_TIMEOUT
    while True:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await layer.send(channel, message)
            return retries
        except ChannelFull:
            if time.monotonic() > deadline:
                raise RoleError(f"{channel} stayed full for {SEND_TIMEOUT:.0f} s") from None
            retries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)


@asynccontextmanager
async def within(seconds: float, what: str) -> AsyncIterator[None]:
    """Bound the wait in the body; when it runs out, fail saying what did not happen."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise RoleError(f"{what} did not happen within {seconds:.1f} s") from None


async def receive_or_none(layer: Any, channel: str, seconds: float) -> dict[str, Any] | None:
    """Receive from ``channel``; None when nothing came in ``seconds`` (receive is cancelled,
    as Channels cancels it when a consumer ends: the layer must keep the message then)."""
    try:
        async with asyncio.timeout(seconds):
            message: dict[str, Any] = await layer.receive(channel)
            return message
    except TimeoutError:
        return None


# --- one-way stream ---------------------------------------------------------------------
# Every role below bounds each of its waits by ``limit`` seconds.


async def sender(role: str, shared: Shared, *, count: int, limit: float) -> dict[str, Any]:
    """Send ``count`` demo messages to the channel name the parent passes on."""
    async with open_layer(shared.url) as layer:
        channel = await shared.from_parent("the receiver's channel name", limit)
        retries = 0
        started = time.monotonic()
        for n in range(count):
            retries += await send(layer, channel, demo_message(n))
        finished = time.monotonic()
    return {"sent": count, "started": started, "finished": finished, "full_retries": retries}


async def receiver(
    role: str, shared: Shared, *, count: int, limit: float, idle: float, grace: float
) -> dict[str, Any]:
    """Make a channel, announce it, and receive until ``count`` arrived or the stream idles.

    The first message may take ``limit`` seconds, later ones ``idle`` seconds; after the
    expected count it listens for ``grace`` seconds more to catch duplicates.
    """
    async with open_layer(shared.url) as layer:
        async with within(limit, "new_channel()"):
            channel = await layer.new_channel()
        shared.report(role, "channel", channel)
        received: list[int] = []
        corrupted = 0
        first = last = 0.0
        wait = limit
        while (message := await receive_or_none(layer, channel, wait)) is not None:
            last = time.monotonic()
            first = first or last
            n = message.get("n")
            received.append(n if isinstance(n, int) else -1)
            if not isinstance(n, int) or message != demo_message(n):
                corrupted += 1
            wait = grace if len(received) >= count else idle
    return {"channel": channel, "received": received, "corrupted": corrupted, "last": last}


# --- ping-pong ---------------------------------------------------------------------------


async def pinger(
    role: str, shared: Shared, *, rounds: int, warmup: int, limit: float
) -> dict[str, Any]:
    """Ping the ponger's channel and time each pong on our own channel."""
    async with open_layer(shared.url) as layer:
        async with within(limit, "new_channel()"):
            mine = await layer.new_channel()
        theirs = await shared.from_parent("the ponger's channel name", limit)
        rtts_ms: list[float] = []
        mismatched = 0
        for i in range(warmup + rounds):
            started = time.perf_counter()
            await send(layer, theirs, {"type": "demo.ping", "n": i, "reply_to": mine})
            async with within(limit, f"the pong for ping {i}"):
                pong = await layer.receive(mine)
            elapsed_ms = (time.perf_counter() - started) * 1000
            mismatched += pong.get("n") != i
            if i >= warmup:
                rtts_ms.append(elapsed_ms)
        await send(layer, theirs, {"type": "demo.stop"})
    return {"rtts_ms": rtts_ms, "mismatched": mismatched}


async def ponger(role: str, shared: Shared, *, limit: float) -> dict[str, Any]:
    """Make a channel, announce it, answer each ping to its ``reply_to`` until told to stop."""
    async with open_layer(shared.url) as layer:
        async with within(limit, "new_channel()"):
            mine = await layer.new_channel()
        shared.report(role, "channel", mine)
        answered = 0
        while True:
            async with within(limit, "the next ping"):
                ping = await layer.receive(mine)
            if ping["type"] == "demo.stop":
                break
            await send(layer, ping["reply_to"], {"type": "demo.pong", "n": ping["n"]})
            answered += 1
    return {"answered": answered}


# --- competing workers on a normal channel ----------------------------------------------


async def worker(
    role: str, shared: Shared, *, channel: str, poll: float, work_seconds: float
) -> dict[str, Any]:
    """Receive tasks from the normal ``channel`` until the parent sets the stop event."""
    async with open_layer(shared.url) as layer:
        tasks: list[int] = []
        ready = False
        while not shared.stop_event.is_set():
            message = await receive_or_none(layer, channel, poll)
            if not ready:
                # One receive has been issued (and maybe cancelled): we now compete for tasks.
                shared.report(role, "ready")
                ready = True
            if message is None:
                continue
            tasks.append(message["n"])
            with shared.tasks_done.get_lock():
                shared.tasks_done.value += 1
            await asyncio.sleep(work_seconds)  # the "work"
    return {"tasks": tasks}


async def producer(role: str, shared: Shared, *, channel: str, count: int) -> dict[str, Any]:
    """Send ``count`` tasks to the normal ``channel``."""
    async with open_layer(shared.url) as layer:
        retries = 0
        for n in range(count):
            retries += await send(layer, channel, {"type": "demo.task", "n": n})
    return {"sent": count, "full_retries": retries}


ROLES: dict[str, Callable[..., Coroutine[Any, Any, dict[str, Any]]]] = {
    "sender": sender,
    "receiver": receiver,
    "pinger": pinger,
    "ponger": ponger,
    "worker": worker,
    "producer": producer,
}


def _exit_with_parent(parent_pid: int) -> None:
    # If the parent is killed outright (no chance to end us), do not linger as an orphan.
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def child_main(role: str, kind: str, shared: Shared, params: dict[str, Any]) -> None:
    """Entry point of a spawned process: run one role, report "done" or "error"."""
    # Ctrl-C reaches the whole process group; the parent alone handles it and ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        result: dict[str, Any] = asyncio.run(ROLES[kind](role, shared, **params))
    except BaseException:
        shared.report(role, "error", traceback.format_exc())
        raise SystemExit(1) from None
    shared.report(role, "done", result)
