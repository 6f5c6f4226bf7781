"""Publisher-confirm bookkeeping: deadlines watched by one timer per channel (pure logic;
the broker-facing behaviour is in tests/layer/test_reconnect.py)."""

from __future__ import annotations

import asyncio

import pytest

from amqp_channels.amqp.confirms import Confirms
from amqp_channels.amqp.errors import ConnectionClosed


@pytest.mark.parametrize("short_first", [True, False], ids=["short-first", "long-first"])
async def test_only_the_confirm_past_its_deadline_fails(short_first: bool) -> None:
    """Whichever order the deadlines come in, the one timer fails just the expired confirm;
    the other still takes the broker's (late) ack."""
    loop = asyncio.get_running_loop()
    confirms = Confirms(loop)
    deadlines = [loop.time() + 0.05, loop.time() + 5]
    futures = [confirms.track(d) for d in (deadlines if short_first else deadlines[::-1])]
    short, long = futures if short_first else futures[::-1]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(short, 2)
    assert not long.done()
    confirms.settle(2, multiple=True, acked=True)
    assert long.result() is True


async def test_unbounded_confirms_set_no_timer_and_fail_with_the_channel() -> None:
    loop = asyncio.get_running_loop()
    confirms = Confirms(loop)
    nacked, pending = confirms.track(), confirms.track()
    assert confirms._watch is None
    confirms.settle(1, multiple=False, acked=False)
    assert nacked.result() is False
    confirms.fail(ConnectionClosed(320, "CONNECTION_FORCED"))
    assert isinstance(pending.exception(), ConnectionClosed)
