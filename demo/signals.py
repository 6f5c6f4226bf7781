"""Ctrl-C, SIGTERM and SIGHUP: stop the demo once, and never cut its clean-up short.

The first signal raises KeyboardInterrupt in the main thread, so every ``finally`` runs:
processes are ended, the broker is stopped. Clean-up code runs inside ``deferred()``, where
a signal is held back until the body is done: a second Ctrl-C must not leave a RabbitMQ
node running.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Later signals only print the note: clean-up is under way.
    for sig in SIGNALS:
        signal.signal(sig, _still_stopping)
    raise KeyboardInterrupt


def _still_stopping(signum: int, frame: FrameType | None) -> None:
    print("still stopping the broker and the demo processes ...", file=sys.stderr, flush=True)


def stop_on_signals() -> None:
    """Turn Ctrl-C, SIGTERM and SIGHUP into KeyboardInterrupt (once)."""
    for sig in SIGNALS:
        signal.signal(sig, _interrupt)


@contextmanager
def deferred() -> Iterator[None]:
    """Run the body (clean-up) uninterrupted; a stop asked for meanwhile is raised after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    asked: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        asked.append(signum)
        _still_stopping(signum, frame)

    previous = {sig: signal.signal(sig, remember) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if asked and previous[signal.SIGINT] is _interrupt:
        _interrupt(asked[0], None)
