"""The messages the benchmarks send, and the tally of which numbered ones arrived.

Why: every scenario counts lost and duplicated deliveries the same way, by the sequence
number ``n`` carried in each message, so the columns of the report mean the same thing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

#: Sent until every receiver has seen one, so the clock starts with consumers in place.
WARMUP = "bench.warmup"
PING = "bench.ping"
PONG = "bench.pong"
STOP = "bench.stop"


def chat_message(n: int) -> dict[str, Any]:
    """The small message of the throughput scenarios, numbered ``n``."""
    return {"type": "chat.message", "text": "hello", "n": n}


def group_message(n: int) -> dict[str, Any]:
    """The fan-out message numbered ``n``, stamped with ``time.monotonic()`` at sending."""
    return {**chat_message(n), "sent_at": time.monotonic()}


@dataclass(frozen=True)
class Tally:
    """How the messages numbered 0..sent-1 fared."""

    sent: int
    unique: int
    lost: int
    duplicated: int
    #: Numbers nobody sent (should be zero; non-zero means a stale or corrupt message).
    unexpected: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def tally(sent: int, received: Iterable[Any]) -> Tally:
    """Count unique, lost, duplicated and unexpected deliveries among ``received`` numbers."""
    counts = Counter(received)
    expected = {n: c for n, c in counts.items() if isinstance(n, int) and 0 <= n < sent}
    return Tally(
        sent=sent,
        unique=len(expected),
        lost=sent - len(expected),
        duplicated=sum(c - 1 for c in expected.values()),
        unexpected=sum(counts.values()) - sum(expected.values()),
    )
