"""Scenario "work": a normal channel with two competing receiver processes.

Like ``manage.py runworker``: two processes loop ``receive("bench-work")`` while a third
sends numbered messages. Each message must reach exactly one receiver, so lost and
duplicated are counted over both receivers together. Receivers stop once the sender is done
and nothing arrived for a while, so the run is bounded even when messages go missing.
"""

from __future__ import annotations

from typing import Any

from benchmarks.layers import LayerSpec, open_layer
from benchmarks.p2p import IDLE_TIMEOUT, SETUP_TIMEOUT, WARMUP_TIMEOUT, summarise
from benchmarks.processes import ProcessGroup, Result
from benchmarks.streams import (
    finished_within,
    receive_stream,
    send_stream,
    wait_event,
    warm_up,
)

CHANNEL = "bench-work"
RECEIVERS = ("receiver-a", "receiver-b")


async def receiver_role(
    *, spec: LayerSpec, ready: Any, sender_finished: Any, receiver_finished: Any, deadline: float
) -> Result:
    """Compete for messages on the normal channel until the sender is done and all is quiet."""
    try:
        async with open_layer(spec) as layer:
            return await receive_stream(
                layer,
                CHANNEL,
                ready=ready,
                sender_finished=sender_finished,
                expected=None,
                idle_timeout=IDLE_TIMEOUT,
                deadline=deadline,
            )
    finally:
        receiver_finished.set()


async def sender_role(
    *,
    spec: LayerSpec,
    count: int,
    ready: list[Any],
    sender_finished: Any,
    receivers_finished: list[Any],
    deadline: float,
) -> Result:
    """Warm up both receivers, send ``count`` messages, wait for the receivers to finish."""
    try:
        async with open_layer(spec) as layer:
            warmed_up = await finished_within(WARMUP_TIMEOUT, warm_up(layer, CHANNEL, ready))
            result = await send_stream(layer, CHANNEL, count=count, deadline=deadline)
            sender_finished.set()
            for event in receivers_finished:
                await finished_within(deadline + IDLE_TIMEOUT + 5, wait_event(event))
    finally:
        sender_finished.set()
    return {**result, "warmed_up": warmed_up}


def measure(spec: LayerSpec, *, count: int, deadline: float) -> Result:
    """Run two receivers and one sender for ``spec`` and summarise the stream."""
    with ProcessGroup() as group:
        sender_finished = group.event()
        ready = {key: group.event() for key in RECEIVERS}
        finished = {key: group.event() for key in RECEIVERS}
        for key in RECEIVERS:
            group.start(
                key,
                receiver_role,
                spec=spec,
                ready=ready[key],
                sender_finished=sender_finished,
                receiver_finished=finished[key],
                deadline=SETUP_TIMEOUT + WARMUP_TIMEOUT + deadline,
            )
        group.start(
            "sender",
            sender_role,
            spec=spec,
            count=count,
            ready=list(ready.values()),
            sender_finished=sender_finished,
            receivers_finished=list(finished.values()),
            deadline=deadline,
        )
        budget = SETUP_TIMEOUT + WARMUP_TIMEOUT + deadline * 2 + IDLE_TIMEOUT + 10
        sent = group.result("sender", timeout=budget)
        received = [group.result(key, timeout=IDLE_TIMEOUT + 10) for key in RECEIVERS]
    return summarise(sent, received)
