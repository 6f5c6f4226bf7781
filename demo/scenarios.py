"""The demo's three experiments, each wiring roles into processes and checking what came back.

1. ``stream``: process A sends numbered messages to a channel that process B made with
   ``new_channel()``; B checks that each arrives exactly once, intact and in order.
2. ``ping_pong``: two processes, each with its own ``new_channel()``, bounce a message back
   and forth; the round trips are timed.
3. ``work_queue``: a producer fills the normal channel ``demo-tasks``; competing workers
   receive from it; each task must reach exactly one worker.

Each returns a result whose ``problems()`` lists every violated guarantee.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field

from demo.crew import Crew

TASK_CHANNEL = "demo-tasks"


def count_problems(expected: int, got: list[int]) -> tuple[int, int, int]:
    """Return (lost, duplicated, unexpected) for messages numbered 0..expected-1."""
    seen = Counter(got)
    lost = sum(1 for n in range(expected) if n not in seen)
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    unexpected = sum(c for n, c in seen.items() if not 0 <= n < expected)
    return lost, duplicated, unexpected


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p in 0..100); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class StreamResult:
    channel: str
    sent: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    corrupted: int
    out_of_order: int
    full_retries: int
    send_rate: float  # messages/s as the sender saw it
    end_to_end_rate: float  # messages/s from the first send to the last receive
    seconds: float

    def problems(self) -> list[str]:
        checks = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unexpected": self.unexpected,
            "corrupted": self.corrupted,
            "out of order": self.out_of_order,
        }
        return [f"stream: {n} {what}" for what, n in checks.items() if n]


def stream(url: str, *, count: int, timeout: float) -> StreamResult:
    """Process A sends ``count`` messages to process B's channel; B accounts for each."""
    with Crew(url) as crew:
        crew.start("B", "receiver", count=count, limit=timeout, idle=10.0, grace=0.5)
        crew.start("A", "sender", count=count, limit=timeout)
        crew.tell("A", crew.expect("B", "channel", timeout))
        a = crew.expect("A", "done", timeout)
        b = crew.expect("B", "done", timeout)
        crew.join()
    got: list[int] = b["received"]
    lost, duplicated, unexpected = count_problems(count, got)
    out_of_order = sum(1 for prev, n in itertools.pairwise(got) if n < prev)
    send_seconds = max(a["finished"] - a["started"], 1e-9)
    # time.monotonic() is CLOCK_MONOTONIC on Linux: one clock for all processes.
    e2e_seconds = max(b["last"] - a["started"], 1e-9)
    return StreamResult(
        channel=b["channel"],
        sent=a["sent"],
        received=len(got),
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
        corrupted=b["corrupted"],
        out_of_order=out_of_order,
        full_retries=a["full_retries"],
        send_rate=a["sent"] / send_seconds,
        end_to_end_rate=(count - lost) / e2e_seconds,
        seconds=e2e_seconds,
    )


@dataclass
class PingPongResult:
    rounds: int
    answered: int
    mismatched: int
    rtts_ms: list[float] = field(repr=False)

    @property
    def p50_ms(self) -> float:
        return percentile(self.rtts_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.rtts_ms, 99)

    @property
    def max_ms(self) -> float:
        return max(self.rtts_ms, default=math.nan)

    def problems(self) -> list[str]:
        return [f"ping-pong: {self.mismatched} pongs answered the wrong ping"] * bool(
            self.mismatched
        )


def ping_pong(url: str, *, rounds: int, warmup: int, timeout: float) -> PingPongResult:
    """Two processes bounce ``warmup + rounds`` messages; the last ``rounds`` are timed."""
    with Crew(url) as crew:
        crew.start("pong", "ponger", limit=timeout)
        crew.start("ping", "pinger", rounds=rounds, warmup=warmup, limit=timeout)
        crew.tell("ping", crew.expect("pong", "channel", timeout))
        pings = crew.expect("ping", "done", timeout)
        pongs = crew.expect("pong", "done", timeout)
        crew.join()
    return PingPongResult(
        rounds=rounds,
        answered=pongs["answered"],
        mismatched=pings["mismatched"],
        rtts_ms=pings["rtts_ms"],
    )


@dataclass
class WorkQueueResult:
    tasks: int
    per_worker: dict[str, int]
    lost: int
    duplicated: int
    unexpected: int
    full_retries: int

    def problems(self) -> list[str]:
        checks = {
            "lost": self.lost,
            "delivered twice": self.duplicated,
            "unexpected": self.unexpected,
        }
        return [f"work queue: {n} tasks {what}" for what, n in checks.items() if n]


def work_queue(url: str, *, tasks: int, workers: int, timeout: float) -> WorkQueueResult:
    """A producer sends ``tasks`` tasks to ``demo-tasks``; ``workers`` processes compete."""
    names = [f"worker {i}" for i in range(1, workers + 1)]
    with Crew(url) as crew:
        for name in names:
            crew.start(name, "worker", channel=TASK_CHANNEL, poll=0.25, work_seconds=0.001)
        for name in names:
            crew.expect(name, "ready", timeout)
        crew.start("producer", "producer", channel=TASK_CHANNEL, count=tasks)
        produced = crew.expect("producer", "done", timeout)
        # Lost tasks show up as a count that never completes: wait, then report them.
        crew.wait_until(lambda: crew.tasks_done.value >= tasks, timeout)
        crew.stop_event.set()
        per_worker = {name: crew.expect(name, "done", timeout)["tasks"] for name in names}
        crew.join()
    got = [n for received in per_worker.values() for n in received]
    lost, duplicated, unexpected = count_problems(tasks, got)
    return WorkQueueResult(
        tasks=tasks,
        per_worker={name: len(got) for name, got in per_worker.items()},
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
        full_retries=produced["full_retries"],
    )
