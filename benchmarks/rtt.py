"""Scenario "rtt": ping-pong latency over process-specific channels between two processes.

Each process has its own channel from new_channel(). The pinger sends a ping carrying its
channel name, the ponger answers to that name, and the pinger times send-to-answer with
``time.perf_counter()`` (both ends of a round trip are in the pinger, so one clock). A
warm-up precedes the timed round trips; a pong not back within a bound counts as lost.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from benchmarks.layers import LayerSpec, open_layer
from benchmarks.messages import PING, PONG, STOP
from benchmarks.processes import ProcessGroup, Result
from benchmarks.scenario import SETUP_TIMEOUT, new_receiving_channels

#: A pong slower than this is counted as lost; later pongs with a stale number are skipped.
PONG_TIMEOUT = 5.0
#: The ponger gives up when nothing arrived for this long.
PONGER_IDLE = 20.0


async def ponger_role(*, spec: LayerSpec, channel_out: Any, deadline: float) -> Result:
    """Answer every ping to the channel it names, until told to stop or idle."""
    async with open_layer(spec) as layer:
        [channel] = await new_receiving_channels(spec, layer)
        channel_out.put(channel)
        answered = 0
        stopped_by = "stop"
        async with asyncio.timeout(deadline):
            while True:
                try:
                    async with asyncio.timeout(PONGER_IDLE):
                        message = await layer.receive(channel)
                except TimeoutError:
                    stopped_by = "idle"
                    break
                if message["type"] == STOP:
                    break
                await layer.send(message["reply_to"], {"type": PONG, "n": message["n"]})
                answered += 1
    return {"answered": answered, "stopped_by": stopped_by}


async def _round_trip(layer: Any, peer: str, channel: str, n: int) -> float | None:
    """One ping and its pong, in seconds; None when the pong did not come back in time."""
    started = time.perf_counter()
    await layer.send(peer, {"type": PING, "n": n, "reply_to": channel})
    try:
        async with asyncio.timeout(PONG_TIMEOUT):
            while (await layer.receive(channel))["n"] != n:
                pass  # a late pong of an earlier round trip
    except TimeoutError:
        return None
    return time.perf_counter() - started


async def pinger_role(
    *, spec: LayerSpec, peer: str, warmup: int, rounds: int, deadline: float
) -> Result:
    """Warm up, then time ``rounds`` round trips to ``peer``; always tell the ponger to stop."""
    latencies: list[float] = []
    lost = 0
    async with open_layer(spec) as layer:
        [channel] = await new_receiving_channels(spec, layer)
        timer = asyncio.timeout(deadline)
        try:
            async with timer:
                for n in range(-warmup, rounds):
                    seconds = await _round_trip(layer, peer, channel, n)
                    if n < 0:
                        continue
                    if seconds is None:
                        lost += 1
                    else:
                        latencies.append(seconds * 1000)
        except TimeoutError:
            if not timer.expired():
                raise
        finally:
            await layer.send(peer, {"type": STOP})
    return {"latencies_ms": latencies, "lost": lost, "timed_out": timer.expired()}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def measure(spec: LayerSpec, *, warmup: int, rounds: int, deadline: float) -> Result:
    """Run a ponger and a pinger process for ``spec`` and summarise the latencies."""
    with ProcessGroup() as group:
        channel_out = group.queue()
        group.start(
            "ponger",
            ponger_role,
            spec=spec,
            channel_out=channel_out,
            deadline=deadline + PONGER_IDLE + SETUP_TIMEOUT,
        )
        peer = group.receive_from(channel_out, key="ponger", timeout=SETUP_TIMEOUT * 2)
        group.start(
            "pinger",
            pinger_role,
            spec=spec,
            peer=peer,
            warmup=warmup,
            rounds=rounds,
            deadline=deadline,
        )
        pinged = group.result("pinger", timeout=SETUP_TIMEOUT * 2 + deadline + 10)
        group.result("ponger", timeout=PONGER_IDLE + 10)
    latencies = pinged["latencies_ms"]
    notes = [f"timed out after {len(latencies)} round trips"] if pinged["timed_out"] else []
    if not latencies:
        return {"round_trips": 0, "lost": pinged["lost"], "notes": [*notes, "no pong came back"]}
    return {
        "round_trips": len(latencies),
        "lost": pinged["lost"],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": sum(latencies) / len(latencies),
        "max_ms": max(latencies),
        "notes": notes,
    }
