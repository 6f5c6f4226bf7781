"""Scenario "churn": group membership coming and going, as with per-user groups.

One process makes a channel with new_channel(), then for a fixed time does group_add(g, ch)
followed by group_discard(g, ch), each awaited, with a new group name g for every pair: a
consumer joining its user's group on connect and leaving it on disconnect. Measured:
add+discard pairs per second. One untimed pair runs first, so connecting (and, for
channels_rabbitmq, its lazy connect on the first group_add) is not measured.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.layers import LayerSpec, dropped_counts, open_layer, ready_to_receive
from benchmarks.processes import ProcessGroup, Result
from benchmarks.scenario import SETUP_TIMEOUT

#: Once the time is up, the pair in flight gets this long to finish before it is cut off.
PAIR_TIMEOUT = 10.0


async def _pair(layer: Any, group: str, channel: str) -> None:
    await layer.group_add(group, channel)
    await layer.group_discard(group, channel)


async def churner_role(*, spec: LayerSpec, seconds: float) -> Result:
    """Add and discard one channel to and from new groups, back to back, for ``seconds``."""
    async with open_layer(spec) as layer:
        async with asyncio.timeout(SETUP_TIMEOUT):
            channel = await layer.new_channel()
            await ready_to_receive(spec, layer)
            await _pair(layer, f"{spec.prefix}.churn.warmup", channel)
        pairs = 0
        started = time.monotonic()
        end = started + seconds
        timer = asyncio.timeout(seconds + PAIR_TIMEOUT)
        try:
            async with timer:
                while time.monotonic() < end:
                    await _pair(layer, f"{spec.prefix}.churn.{pairs}", channel)
                    pairs += 1
        except TimeoutError:
            if not timer.expired():
                raise  # the layer's own timeout, not ours: a real failure
        elapsed = time.monotonic() - started
        dropped = dropped_counts(layer)
    return {"pairs": pairs, "elapsed_s": elapsed, "timed_out": timer.expired(), "dropped": dropped}


def measure(spec: LayerSpec, *, seconds: float) -> Result:
    """Run one churning process for ``spec`` and report pairs per second."""
    with ProcessGroup() as procs:
        procs.start("churner", churner_role, spec=spec, seconds=seconds)
        churned = procs.result("churner", timeout=SETUP_TIMEOUT * 2 + seconds + PAIR_TIMEOUT)
    notes = []
    if churned["timed_out"]:
        notes.append(f"a pair took over {PAIR_TIMEOUT:.0f} s and was cut off")
    if churned["dropped"]:
        notes.append(f"drops the layer counted: {churned['dropped']}")
    elapsed = churned["elapsed_s"]
    return {
        "pairs": churned["pairs"],
        "elapsed_s": elapsed,
        "pairs_per_s": churned["pairs"] / elapsed if elapsed else 0.0,
        "notes": notes,
    }
