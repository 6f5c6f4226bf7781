"""Reply matching: abandoned requests never steal the reply of the next one."""

from __future__ import annotations

import asyncio

from amqp_channels.amqp.rpc import RpcSlot


class Reply:
    def __init__(self, value: int) -> None:
        self.value = value
        self.name = "Reply"


async def _abandon(slot: RpcSlot, *, reply_before_cleanup: bool) -> None:
    task = asyncio.create_task(slot.request(lambda frame: None, b"", Reply))
    await asyncio.sleep(0)  # the request is sent and awaiting its reply
    task.cancel()
    if reply_before_cleanup:
        assert slot.deliver(Reply(1))  # parsed before the cancelled task runs its cleanup
    await asyncio.gather(task, return_exceptions=True)
    if not reply_before_cleanup:
        assert slot.deliver(Reply(1))  # arrives later and is dropped as an orphan


async def _next_reply(slot: RpcSlot) -> int:
    task = asyncio.create_task(slot.request(lambda frame: None, b"", Reply))
    await asyncio.sleep(0)
    assert slot.deliver(Reply(2))
    return int((await task).value)


async def test_reply_after_cancellation_is_dropped() -> None:
    slot = RpcSlot(asyncio.get_running_loop())
    await _abandon(slot, reply_before_cleanup=False)
    assert await _next_reply(slot) == 2


async def test_reply_racing_the_cancellation_is_not_counted_twice() -> None:
    slot = RpcSlot(asyncio.get_running_loop())
    await _abandon(slot, reply_before_cleanup=True)
    assert await _next_reply(slot) == 2


async def test_skipped_reply_does_not_answer_the_next_request() -> None:
    """A request sent without waiting (``skip``) has its reply dropped, even when the next
    request expects the same kind of reply."""
    slot = RpcSlot(asyncio.get_running_loop())
    slot.skip(Reply)
    task = asyncio.create_task(slot.request(lambda frame: None, b"", Reply))
    await asyncio.sleep(0)
    assert slot.deliver(Reply(1))  # the skipped request's reply
    assert not task.done()
    assert slot.deliver(Reply(2))
    assert (await task).value == 2
