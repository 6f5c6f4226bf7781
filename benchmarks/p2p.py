"""Scenario "p2p": throughput over a process-specific channel between two processes.

The receiver process makes a channel with new_channel() and hands its name to the sender
process, which sends numbered messages one awaited send() after another. Measured: unique
messages per second from the first timed send to the last new message received, plus lost
and duplicated messages by sequence number.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.layers import LayerSpec, open_layer, ready_to_receive
from benchmarks.messages import tally
from benchmarks.processes import ProcessGroup, Result
from benchmarks.streams import (
    finished_within,
    receive_stream,
    send_stream,
    wait_event,
    warm_up,
)

#: Spawning a process, importing a layer and connecting; generous on a loaded 2-core machine.
SETUP_TIMEOUT = 30.0
WARMUP_TIMEOUT = 15.0
IDLE_TIMEOUT = 2.0


async def receiver_role(
    *,
    spec: LayerSpec,
    channel_out: Any,
    ready: Any,
    sender_finished: Any,
    receiver_finished: Any,
    expected: int,
    deadline: float,
) -> Result:
    """Make a channel, hand its name over, receive until all ``expected`` arrived or idle."""
    try:
        async with open_layer(spec) as layer:
            async with asyncio.timeout(SETUP_TIMEOUT):
                channel = await layer.new_channel()
                await ready_to_receive(spec, layer)
            channel_out.put(channel)
            return await receive_stream(
                layer,
                channel,
                ready=ready,
                sender_finished=sender_finished,
                expected=expected,
                idle_timeout=IDLE_TIMEOUT,
                deadline=deadline,
            )
    finally:
        receiver_finished.set()


async def sender_role(
    *,
    spec: LayerSpec,
    channel: str,
    count: int,
    ready: Any,
    sender_finished: Any,
    receiver_finished: Any,
    deadline: float,
) -> Result:
    """Warm up, send ``count`` messages, keep the connection open until the receiver is done."""
    try:
        async with open_layer(spec) as layer:
            warmed_up = await finished_within(WARMUP_TIMEOUT, warm_up(layer, channel, [ready]))
            result = await send_stream(layer, channel, count=count, deadline=deadline)
            sender_finished.set()
            await finished_within(deadline + IDLE_TIMEOUT + 5, wait_event(receiver_finished))
    finally:
        sender_finished.set()
    return {**result, "warmed_up": warmed_up}


def measure(spec: LayerSpec, *, count: int, deadline: float) -> Result:
    """Run one sender and one receiver process for ``spec`` and summarise the stream."""
    with ProcessGroup() as group:
        ready, sender_finished, receiver_finished = group.event(), group.event(), group.event()
        channel_out = group.queue()
        group.start(
            "receiver",
            receiver_role,
            spec=spec,
            channel_out=channel_out,
            ready=ready,
            sender_finished=sender_finished,
            receiver_finished=receiver_finished,
            expected=count,
            deadline=WARMUP_TIMEOUT + deadline + SETUP_TIMEOUT,
        )
        channel = group.receive_from(channel_out, key="receiver", timeout=SETUP_TIMEOUT * 2)
        group.start(
            "sender",
            sender_role,
            spec=spec,
            channel=channel,
            count=count,
            ready=ready,
            sender_finished=sender_finished,
            receiver_finished=receiver_finished,
            deadline=deadline,
        )
        budget = SETUP_TIMEOUT + WARMUP_TIMEOUT + deadline * 2 + IDLE_TIMEOUT + 10
        sent = group.result("sender", timeout=budget)
        received = group.result("receiver", timeout=IDLE_TIMEOUT + 10)
    return summarise(sent, [received])


def summarise(sent: Result, receivers: list[Result]) -> Result:
    """Throughput, losses and duplicates of one stream, from the roles' raw results."""
    counts = tally(sent["sent"], [n for r in receivers for n in r["numbers"]])
    last = [r["last_receive"] for r in receivers if r["last_receive"] is not None]
    elapsed = max(last) - sent["first_send"] if last else None
    notes = []
    if not sent["warmed_up"]:
        notes.append("a receiver never saw a warm-up message")
    if sent["refused"]:
        notes.append(f"ChannelFull {sent['refused']} times (the sender retried after 1 ms)")
    if sent["timed_out"]:
        notes.append(f"send loop hit its deadline after {sent['sent']} messages")
    if any(r["stopped_by"] == "deadline" for r in receivers):
        notes.append("a receiver hit its deadline")
    return {
        "msgs_per_s": counts.unique / elapsed if elapsed else 0.0,
        "elapsed_s": elapsed,
        "send_s": sent["last_send"] - sent["first_send"],
        **counts.as_dict(),
        "refused": sent["refused"],
        "per_receiver": [len(r["numbers"]) for r in receivers],
        "notes": notes,
    }
