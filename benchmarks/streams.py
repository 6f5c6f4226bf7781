"""A timed one-way stream of numbered messages: the warm-up, the send loop, the receive loop.

Why: the "p2p" and "work" scenarios differ only in who receives, so both use these loops.
Invariants: the sender starts its clock only after every receiver has seen a warm-up message
(so connection setup and queue declaration are not measured, and nothing timed is sent
into a queue that does not exist yet); every wait is bounded; a receiver stops when all
expected messages arrived, or when the sender is done and nothing came for a while.
Timestamps are ``time.monotonic()``, one clock for every process of the machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from channels.exceptions import ChannelFull

from benchmarks.messages import WARMUP, chat_message

#: How often a blocked receive() is cancelled to look at the stop conditions.
_POLL = 0.25
#: After the last expected message, keep receiving this long to catch duplicates.
_DUPLICATE_GRACE = 0.5
_WARMUP_INTERVAL = 0.02
#: Pause before re-sending a message the layer refused with ChannelFull.
_FULL_BACKOFF = 0.001


async def finished_within(seconds: float, awaitable: Awaitable[object]) -> bool:
    """True if ``awaitable`` completed within ``seconds``, False if it was cut off then."""
    timer = asyncio.timeout(seconds)
    try:
        async with timer:
            await awaitable
    except TimeoutError:
        if not timer.expired():
            raise  # raised inside the awaitable: a real failure, not our bound
        return False
    return True


async def wait_event(event: Any) -> None:
    """Wait for a multiprocessing Event without blocking the event loop."""
    # A multiprocessing Event cannot be awaited: poll it.
    while not event.is_set():
        await asyncio.sleep(0.02)


async def warm_up(layer: Any, channel: str, ready: Sequence[Any]) -> None:
    """Send warm-up messages until every receiver's ``ready`` event is set."""
    while not all(event.is_set() for event in ready):
        await layer.send(channel, {"type": WARMUP})
        await asyncio.sleep(_WARMUP_INTERVAL)


async def _send_until_accepted(layer: Any, channel: str, message: dict[str, Any]) -> int:
    """Send ``message``, retrying after ChannelFull like a polite producer; return refusals.

    Retrying keeps the numbers contiguous, so lost/duplicated stay meaningful; refusals are
    reported, because a full channel means the receivers could not keep up.
    """
    refused = 0
    while True:
        try:
            await layer.send(channel, message)
            return refused
        except ChannelFull:
            refused += 1
            await asyncio.sleep(_FULL_BACKOFF)


async def timed_sends(
    count: int, deadline: float, send_one: Callable[[int], Awaitable[int]]
) -> dict[str, Any]:
    """Await ``send_one(n)`` for n in 0..count-1, one after another, within ``deadline``.

    Why shared: send() and group_send() streams are timed and cut off the same way.
    ``send_one`` returns how often the layer refused before accepting (0 for group_send).
    """
    sent = refused = 0
    first_send = time.monotonic()
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            for n in range(count):
                refused += await send_one(n)
                sent += 1
    except TimeoutError:
        if not timer.expired():
            raise  # the layer's own timeout, not ours: a real failure
    return {
        "first_send": first_send,
        "last_send": time.monotonic(),
        "sent": sent,
        "refused": refused,
        "timed_out": timer.expired(),
    }


async def send_stream(layer: Any, channel: str, *, count: int, deadline: float) -> dict[str, Any]:
    """Send ``count`` numbered messages, one awaited send() after another, within ``deadline``."""
    return await timed_sends(
        count, deadline, lambda n: _send_until_accepted(layer, channel, chat_message(n))
    )


async def receive_stream(
    layer: Any,
    channel: str,
    *,
    ready: Any,
    sender_finished: Any,
    expected: int | None,
    idle_timeout: float,
    deadline: float,
) -> dict[str, Any]:
    """Receive numbered messages until done; return their numbers and arrival times."""
    numbers: list[Any] = []
    seen: set[Any] = set()
    first_receive = last_receive = None
    stopped_by = "deadline"
    idle_since = time.monotonic()
    end = idle_since + deadline
    while time.monotonic() < end:
        try:
            async with asyncio.timeout(_POLL):
                message = await layer.receive(channel)
        except TimeoutError:
            if sender_finished.is_set() and time.monotonic() - idle_since >= idle_timeout:
                stopped_by = "idle"
                break
            continue
        now = idle_since = time.monotonic()
        if message.get("type") == WARMUP:
            ready.set()
            continue
        n = message.get("n")
        numbers.append(n)
        if n not in seen:
            seen.add(n)
            last_receive = now
            first_receive = first_receive or now
            if expected is not None and len(seen) >= expected:
                stopped_by = "complete"
                end = min(end, now + _DUPLICATE_GRACE)
    return {
        "numbers": numbers,
        "first_receive": first_receive,
        "last_receive": last_receive,
        "stopped_by": stopped_by,
    }
