"""Counters of what the layer dropped or refused, and logging that cannot flood.

Where the spec says "drop", the layer drops, counts it here and logs at most once per
``LOG_INTERVAL`` per reason: a misbehaving publisher must not turn into a log storm.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("amqp_channels")
LOG_INTERVAL = 10.0


@dataclass
class LayerStats:
    """Monotonic counters for one layer instance (all event loops together)."""

    sent: int = 0
    received: int = 0
    channel_full: int = 0
    reconnects: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    _last_logged: dict[str, float] = field(default_factory=dict)

    def drop(self, reason: str, detail: str, count: int = 1) -> None:
        """Count ``count`` dropped messages for ``reason``; log now and then."""
        self.dropped[reason] += count
        now = time.monotonic()
        if now - self._last_logged.get(reason, -LOG_INTERVAL) >= LOG_INTERVAL:
            self._last_logged[reason] = now
            log.warning("dropped message(s) (%s): %s [%d so far]", reason, detail,
                        self.dropped[reason])

    def drop_expired(self, channel: str, expiry: float, count: int = 1) -> None:
        """Count ``count`` messages of ``channel`` dropped unread after ``expiry`` seconds
        in a local buffer (the inbox's, or a normal channel's prefetch)."""
        self.drop("expired", f"unread for {expiry:g}s on {channel}", count)
