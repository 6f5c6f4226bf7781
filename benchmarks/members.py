"""Group members on the receiving side of "fanout": many channels in one process, all receiving.

Why: a server process holds one consumer per websocket, and all of them wait in receive() at
once; a layer that demultiplexes one process inbox into per-channel buffers should be
measured under exactly that load, not with one loop polling channels in turn.
Invariants: every channel has its own task looping receive(); a process is "ready" once each
of its channels has seen a warm-up message; receiving stops when every channel has every
number (plus a short grace to catch duplicates), or when the sender is done and nothing
arrived on any channel for a while, or at the deadline; the tasks are cancelled and awaited,
bounded, on the way out. Latency is ``time.monotonic()`` at receipt minus the message's
``sent_at``, one clock for all processes of the machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.messages import WARMUP
from benchmarks.processes import Result

#: How often the supervisor looks at the stop conditions.
_POLL = 0.05
#: After the last channel got its last number, keep receiving this long to catch duplicates.
_DUPLICATE_GRACE = 0.5
#: Cancelled receive() calls get this long to unwind.
_CANCEL_TIMEOUT = 5.0


@dataclass
class _Arrivals:
    """What this process's channels received so far, shared by their receive tasks."""

    channels: list[str]
    numbers: dict[str, list[Any]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    warmed_up: set[str] = field(default_factory=set)
    complete: set[str] = field(default_factory=set)
    last_activity: float = field(default_factory=time.monotonic)
    last_new: float | None = None


async def _receive_loop(
    layer: Any, channel: str, arrivals: _Arrivals, *, ready: Any, expected: int
) -> None:
    """Receive on ``channel`` until cancelled, recording numbers and latencies."""
    numbers = arrivals.numbers.setdefault(channel, [])
    seen: set[Any] = set()
    while True:
        message = await layer.receive(channel)
        now = arrivals.last_activity = time.monotonic()
        if message.get("type") == WARMUP:
            arrivals.warmed_up.add(channel)
            if len(arrivals.warmed_up) == len(arrivals.channels):
                ready.set()
            continue
        n = message.get("n")
        numbers.append(n)
        if n in seen:
            continue  # a duplicate: counted from ``numbers``, not timed twice
        seen.add(n)
        arrivals.last_new = now
        arrivals.latencies_ms.append((now - message["sent_at"]) * 1000)
        if len(seen) == expected:
            arrivals.complete.add(channel)


async def _until_done(
    arrivals: _Arrivals,
    tasks: list[asyncio.Task[None]],
    *,
    sender_finished: Any,
    idle_timeout: float,
    deadline: float,
) -> str:
    """Wait for a stop condition and name it; re-raise a receive task's failure."""
    end = time.monotonic() + deadline
    while True:
        await asyncio.sleep(_POLL)
        for task in tasks:
            if task.done():
                task.result()  # a receive() that raised: the role fails with it
        now = time.monotonic()
        if len(arrivals.complete) == len(arrivals.channels):
            await asyncio.sleep(_DUPLICATE_GRACE)
            return "complete"
        if sender_finished.is_set() and now - arrivals.last_activity >= idle_timeout:
            return "idle"
        if now >= end:
            return "deadline"


async def receive_as_members(
    layer: Any,
    channels: list[str],
    *,
    ready: Any,
    sender_finished: Any,
    expected: int,
    idle_timeout: float,
    deadline: float,
) -> Result:
    """Receive on all ``channels`` at once, one task each; return numbers and latencies."""
    arrivals = _Arrivals(channels=channels)
    tasks = [
        asyncio.create_task(
            _receive_loop(layer, channel, arrivals, ready=ready, expected=expected)
        )
        for channel in channels
    ]
    try:
        stopped_by = await _until_done(
            arrivals,
            tasks,
            sender_finished=sender_finished,
            idle_timeout=idle_timeout,
            deadline=deadline,
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=_CANCEL_TIMEOUT)
    return {
        "numbers": [arrivals.numbers.get(channel, []) for channel in channels],
        "latencies_ms": arrivals.latencies_ms,
        "last_receive": arrivals.last_new,
        "stopped_by": stopped_by,
    }
