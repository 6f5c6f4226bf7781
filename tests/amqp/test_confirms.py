"""Publisher-confirm bookkeeping: deadlines watched by one timer per channel (pure logic;
the broker-facing behaviour is in tests/layer/test_reconnect.py)."""

from __future__ import annotations

import asyncio

import pytest

from amqp_channels.amqp.confirms import Confirms
from amqp_channels.amqp.errors import ConnectionClosed


async def test_a_confirm_past_its_deadline_fails_and_later_ones_wait() -> None:
    loop = asyncio.get_running_loop()
    confirms = Confirms(loop)
    soon = confirms.track(loop.time() + 0.05)
    later = confirms.track(loop.time() + 5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(soon, 2)
    assert not later.done()
    confirms.settle(2, multiple=True, acked=True)  # the ack for both comes late
    assert later.result() is True


async def test_a_shorter_deadline_after_a_longer_one_is_still_kept() -> None:
    loop = asyncio.get_running_loop()
    confirms = Confirms(loop)
    long = confirms.track(loop.time() + 5)
    short = confirms.track(loop.time() + 0.05)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(short, 2)
    assert not long.done()
    confirms.fail(ConnectionClosed(320, "CONNECTION_FORCED"))
    assert isinstance(long.exception(), ConnectionClosed)


async def test_unbounded_confirms_set_no_timer() -> None:
    loop = asyncio.get_running_loop()
    confirms = Confirms(loop)
    future = confirms.track()
    assert confirms._watch is None
    confirms.settle(1, multiple=False, acked=False)
    assert future.result() is False
