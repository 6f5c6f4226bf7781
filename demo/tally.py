"""Bookkeeping for the Daphne demo: which client should get which message, and what came.

Why it exists: "nothing lost" is only checkable against a list of expected deliveries. Every
message the session sends is registered here first, with the clients that must receive it
and the ``time.monotonic()`` of the send (one clock: the clients all live in this process);
every frame a client reads is then matched against that list. A delivery to a client that
was not expected (a whisper to the wrong user, a task answer on the wrong socket) is a
"stray"; a second copy to the same client is a "duplicate".
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from demo.scenarios import percentile

KINDS = ("broadcast", "whisper", "task", "announcement")
Key = tuple[str, int]  # (kind, number of the message within its kind)


@dataclass
class KindStats:
    """What one kind of message did: counts of deliveries and their latencies."""

    kind: str
    sent: int
    expected: int
    delivered: int
    duplicated: int
    stray: int
    latencies_ms: list[float] = field(repr=False)

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    def problems(self) -> list[str]:
        checks = {"lost": self.lost, "duplicated": self.duplicated, "stray": self.stray}
        return [f"{self.kind}: {n} {what}" for what, n in checks.items() if n]


class Tally:
    """Expected deliveries, received frames, and an event set when nothing is outstanding."""

    def __init__(self) -> None:
        self._sent_at: dict[Key, float] = {}
        self._expected: dict[Key, set[str]] = {}
        self._received: Counter[tuple[Key, str]] = Counter()
        self._latency_ms: dict[Key, list[float]] = {}
        self._stray: Counter[str] = Counter()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.errors: list[str] = []  # error frames and unreadable frames, as text

    def expect(self, key: Key, clients: set[str]) -> float:
        """Register a message about to be sent to ``clients``; return its send timestamp."""
        now = time.monotonic()
        self._sent_at[key] = now
        self._expected[key] = set(clients)
        self._latency_ms[key] = []
        self._outstanding += len(clients)
        self._idle.clear()
        return now

    def received(self, key: Key, client: str) -> None:
        """Count one frame carrying ``key`` read by ``client``."""
        now = time.monotonic()
        if client not in self._expected.get(key, ()):
            self._stray[key[0]] += 1
            return
        self._received[key, client] += 1
        if self._received[key, client] == 1:
            self._latency_ms[key].append((now - self._sent_at[key]) * 1000)
            self._outstanding -= 1
            if not self._outstanding:
                self._idle.set()

    async def settled(self, timeout: float) -> bool:
        """Wait until every expected delivery arrived (True) or ``timeout`` passed (False)."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False

    def stats(self, kind: str) -> KindStats:
        keys = [key for key in self._expected if key[0] == kind]
        pairs = [(key, client) for key in keys for client in self._expected[key]]
        return KindStats(
            kind=kind,
            sent=len(keys),
            expected=len(pairs),
            delivered=sum(1 for pair in pairs if self._received[pair]),
            duplicated=sum(max(0, self._received[pair] - 1) for pair in pairs),
            stray=self._stray[kind],
            latencies_ms=[ms for key in keys for ms in self._latency_ms[key]],
        )
