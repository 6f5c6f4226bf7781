"""Heartbeats: send one every ``interval / 2`` and declare the peer dead after ``2 * interval``
seconds without a single incoming byte.

Why timers and not a task: a ``loop.call_later`` chain costs nothing between ticks and cannot
be left running by a forgotten task. Any received data counts as a sign of life (the protocol
sets ``rx_seen`` on every read), as the AMQP spec allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .frames import HEARTBEAT
from .protocol import AMQPProtocol

__all__ = ["HeartbeatMonitor"]

_SILENT_TICKS_ALLOWED = 4  # ticks are interval / 2 apart: 4 silent ticks = 2 * interval


class HeartbeatMonitor:
    """Heartbeat sender and liveness check of one connection."""

    def __init__(self, protocol: AMQPProtocol, interval: float,
                 on_dead: Callable[[float], None]) -> None:
        self._protocol = protocol
        self._period = interval / 2
        self._on_dead = on_dead
        self._silent_ticks = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Begin ticking (no-op for a zero interval, which disables heartbeats)."""
        if self._period > 0:
            self._handle = self._protocol.loop.call_later(self._period, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        protocol = self._protocol
        if protocol.rx_seen:
            protocol.rx_seen = False
            self._silent_ticks = 0
        else:
            self._silent_ticks += 1
            if self._silent_ticks >= _SILENT_TICKS_ALLOWED:
                self._handle = None
                self._on_dead(self._silent_ticks * self._period)
                return
        protocol.write(HEARTBEAT)
        self._handle = protocol.loop.call_later(self._period, self._tick)
