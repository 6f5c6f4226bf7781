"""Scenario "work": a normal channel with two competing receiver processes.

Like ``manage.py runworker``: two processes loop ``receive("bench-work")`` while a third
sends numbered messages. Each message must reach exactly one receiver, so lost and
duplicated are counted over both receivers together. Receivers stop once the sender is done
and nothing arrived for a while, so the run is bounded even when messages go missing. The
sender is p2p's, aimed at the normal channel: sending is the same, only receiving differs.
"""

from __future__ import annotations

from typing import Any

from benchmarks import p2p
from benchmarks.layers import LayerSpec, open_layer
from benchmarks.processes import ProcessGroup, Result
from benchmarks.scenario import IDLE_TIMEOUT, run_receivers_and_sender
from benchmarks.streams import receive_stream

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


def measure(spec: LayerSpec, *, count: int, deadline: float) -> Result:
    """Run two receivers and one sender for ``spec`` and summarise the stream."""
    with ProcessGroup() as group:
        sent, received = run_receivers_and_sender(
            group,
            receiver=receiver_role,
            receiver_keys=RECEIVERS,
            receiver_kwargs={"spec": spec},
            sender=p2p.sender_role,
            sender_kwargs={"spec": spec, "channel": CHANNEL, "count": count},
            deadline=deadline,
        )
    return p2p.summarise(sent, received)
