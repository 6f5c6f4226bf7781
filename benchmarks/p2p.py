"""Scenario "p2p": throughput over a process-specific channel between two processes.

The receiver process makes a channel with new_channel() and hands its name to the sender
process, which sends numbered messages one awaited send() after another. Measured: unique
messages per second from the first timed send to the last new message received, plus lost
and duplicated messages by sequence number.
"""

from __future__ import annotations

from typing import Any

from benchmarks.layers import LayerSpec, open_layer
from benchmarks.messages import tally
from benchmarks.processes import ProcessGroup, Result
from benchmarks.scenario import (
    IDLE_TIMEOUT,
    SETUP_TIMEOUT,
    new_receiving_channels,
    run_receivers_and_sender,
    warm_send_and_wait,
)
from benchmarks.streams import receive_stream, send_stream, warm_up


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
            [channel] = await new_receiving_channels(spec, layer)
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
    ready: list[Any],
    sender_finished: Any,
    receivers_finished: list[Any],
    deadline: float,
) -> Result:
    """Warm up, send ``count`` messages, keep the connection open until the receivers are done."""
    return await warm_send_and_wait(
        spec,
        warm=lambda layer: warm_up(layer, channel, ready),
        send=lambda layer: send_stream(layer, channel, count=count, deadline=deadline),
        sender_finished=sender_finished,
        receivers_finished=receivers_finished,
        deadline=deadline,
    )


def measure(spec: LayerSpec, *, count: int, deadline: float) -> Result:
    """Run one sender and one receiver process for ``spec`` and summarise the stream."""
    with ProcessGroup() as group:
        channel_out = group.queue()
        sent, received = run_receivers_and_sender(
            group,
            receiver=receiver_role,
            receiver_keys=("receiver",),
            receiver_kwargs={"spec": spec, "channel_out": channel_out, "expected": count},
            sender=sender_role,
            sender_kwargs={"spec": spec, "count": count},
            handoff=lambda: {
                "channel": group.receive_from(
                    channel_out, key="receiver", timeout=SETUP_TIMEOUT * 2
                )
            },
            deadline=deadline,
        )
    return summarise(sent, received)


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
