"""The local channel buffer: FIFO, and nothing lost when a receiver is cancelled."""

from __future__ import annotations

import asyncio

from amqp_channels.layer.buffers import ChannelBuffer


async def test_items_come_out_in_order() -> None:
    """Items put while nobody waits come out first in, first out."""
    buffer: ChannelBuffer[int] = ChannelBuffer()
    for i in range(3):
        buffer.put(i)
    assert [await buffer.get() for _ in range(3)] == [0, 1, 2]


async def test_cancelled_waiter_loses_nothing() -> None:
    """A receiver cancelled in the same iteration as its delivery hands the item on."""
    buffer: ChannelBuffer[str] = ChannelBuffer()
    first = asyncio.ensure_future(buffer.get())
    await asyncio.sleep(0)
    buffer.put("a")
    first.cancel()  # delivered and cancelled before the task could resume
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled()
    buffer.put("b")
    assert await asyncio.wait_for(buffer.get(), 1) == "a"
    assert await asyncio.wait_for(buffer.get(), 1) == "b"


async def test_cancelled_waiter_is_skipped() -> None:
    """An item put after a waiter was cancelled goes to the next live waiter."""
    buffer: ChannelBuffer[str] = ChannelBuffer()
    gone = asyncio.ensure_future(buffer.get())
    live = asyncio.ensure_future(buffer.get())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    buffer.put("x")
    assert await asyncio.wait_for(live, 1) == "x"
    assert buffer.idle
