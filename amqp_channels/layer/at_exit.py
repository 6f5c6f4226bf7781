"""At interpreter exit, close the connections of event loops that were stopped, not closed.

Why it exists: Daphne runs on Twisted's asyncio reactor, which on SIGTERM stops its event
loop and returns without closing it or cancelling what is left. The layer's link task
never ends, and the process would exit with its AMQP connection open: the broker sees a
dropped TCP connection ("client unexpectedly closed TCP connection") instead of a
Connection.Close. Loops that ``asyncio.run`` ended need nothing: it cancelled the link
task, which closed its connection. Loops still running (in other threads) are left alone.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import weakref
from typing import Protocol

log = logging.getLogger("amqp_channels.link")

EXIT_TIMEOUT = 5.0  # a broker that does not answer Connection.Close must not hold the exit


class Closable(Protocol):
    loop: asyncio.AbstractEventLoop

    async def close(self) -> None: ...


_live: weakref.WeakSet[Closable] = weakref.WeakSet()
_registered = False


def close_at_exit(state: Closable) -> None:
    """Remember ``state`` (weakly) so that it is closed at exit if its loop was not."""
    global _registered
    if not _registered:
        atexit.register(close_left_over)
        _registered = True
    _live.add(state)


def close_left_over() -> None:
    """Close, on their own loops, the states whose loop is stopped but not closed."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Closable]] = {}
    for state in list(_live):
        if not state.loop.is_closed() and not state.loop.is_running():
            by_loop.setdefault(state.loop, []).append(state)
    for loop, states in by_loop.items():
        try:
            loop.run_until_complete(_close_all(states))
        except Exception as exc:  # exiting anyway: say so, do not mask the exit status
            log.warning("closing the AMQP connection at exit failed: %r", exc)


async def _close_all(states: list[Closable]) -> None:
    async with asyncio.timeout(EXIT_TIMEOUT):
        await asyncio.gather(*(state.close() for state in states))
