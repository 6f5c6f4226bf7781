"""Scenario "fanout": group_send to a group of 200 channels spread over two processes.

Each receiver process makes 100 channels with new_channel(), group_add()s each of them to
one group and receives on all of them at once (``members.py``). A sender process group_sends
numbered messages stamped with their sending time, one awaited group_send() after another.
Measured: deliveries per second (unique deliveries from the first timed send to the last
new delivery), lost and duplicated deliveries counted per channel by sequence number, and
latency from group_send() to each delivery.

Why each layer's *default* capacity here, unlike the other scenarios: a group message to a
full member is dropped silently by the spec, and what a layer does at its defaults under a
burst is what a deployment that never tuned capacity gets. Drops show up as "lost".
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from benchmarks.layers import LayerSpec, dropped_counts, open_layer
from benchmarks.members import receive_as_members
from benchmarks.messages import WARMUP, group_message, tally
from benchmarks.processes import ProcessGroup, Result
from benchmarks.rtt import percentile
from benchmarks.scenario import (
    IDLE_TIMEOUT,
    SETUP_TIMEOUT,
    new_receiving_channels,
    run_receivers_and_sender,
    warm_send_and_wait,
)
from benchmarks.streams import timed_sends

RECEIVERS = ("receiver-a", "receiver-b")
MEMBERS_PER_RECEIVER = 100
#: Slower than the p2p warm-up: each warm-up is one message per member, 200 in all.
_WARMUP_INTERVAL = 0.05


async def receiver_role(
    *,
    spec: LayerSpec,
    group: str,
    ready: Any,
    sender_finished: Any,
    receiver_finished: Any,
    expected: int,
    deadline: float,
) -> Result:
    """Add 100 new channels to ``group``, then receive on all of them until done."""
    try:
        async with open_layer(spec) as layer:
            async with asyncio.timeout(SETUP_TIMEOUT):  # channels and group_adds together
                channels = await new_receiving_channels(spec, layer, MEMBERS_PER_RECEIVER)
                for channel in channels:
                    await layer.group_add(group, channel)
            result = await receive_as_members(
                layer,
                channels,
                ready=ready,
                sender_finished=sender_finished,
                expected=expected,
                idle_timeout=IDLE_TIMEOUT,
                deadline=deadline,
            )
            return {**result, "dropped": dropped_counts(layer)}
    finally:
        receiver_finished.set()


async def _warm_up(layer: Any, group: str, ready: list[Any]) -> None:
    """group_send warm-up messages until every receiver saw one on each of its channels."""
    while not all(event.is_set() for event in ready):
        await layer.group_send(group, {"type": WARMUP})
        await asyncio.sleep(_WARMUP_INTERVAL)


async def _group_send(layer: Any, group: str, n: int) -> int:
    """group_send message ``n``; 0 refusals, as group_send never raises ChannelFull."""
    # The spec: a full member just misses the message.
    await layer.group_send(group, group_message(n))
    return 0


async def sender_role(
    *,
    spec: LayerSpec,
    group: str,
    count: int,
    ready: list[Any],
    sender_finished: Any,
    receivers_finished: list[Any],
    deadline: float,
) -> Result:
    """Warm up every member, group_send ``count`` messages, wait for the receivers to finish."""
    return await warm_send_and_wait(
        spec,
        warm=lambda layer: _warm_up(layer, group, ready),
        send=lambda layer: timed_sends(count, deadline, lambda n: _group_send(layer, group, n)),
        sender_finished=sender_finished,
        receivers_finished=receivers_finished,
        deadline=deadline,
        report=lambda layer: {"dropped": dropped_counts(layer)},
    )


def measure(spec: LayerSpec, *, count: int, deadline: float) -> Result:
    """Run two receivers of 100 members each and one sender for ``spec``; summarise."""
    spec = dataclasses.replace(spec, default_capacity=True)
    group = f"{spec.prefix}.fanout"
    with ProcessGroup() as procs:
        sent, received = run_receivers_and_sender(
            procs,
            receiver=receiver_role,
            receiver_keys=RECEIVERS,
            receiver_kwargs={"spec": spec, "group": group, "expected": count},
            sender=sender_role,
            sender_kwargs={"spec": spec, "group": group, "count": count},
            deadline=deadline,
            receiver_grace=15,
        )
    return summarise(sent, received)


def _notes(sent: Result, receivers: list[Result], lost: int, expected: int) -> list[str]:
    notes = []
    if not sent["warmed_up"]:
        notes.append("a member never saw a warm-up message")
    if sent["timed_out"]:
        notes.append(f"send loop hit its deadline after {sent['sent']} group_sends")
    if any(r["stopped_by"] == "deadline" for r in receivers):
        notes.append("a receiver hit its deadline")
    if lost:
        notes.append(f"lost {lost} of {expected} deliveries ({lost / expected:.1%})")
    counted = [d for d in [sent["dropped"], *(r["dropped"] for r in receivers)] if d]
    if counted:
        notes.append(f"drops the layer counted (sender, receivers): {counted}")
    return notes


def summarise(sent: Result, receivers: list[Result]) -> Result:
    """Delivery rate, per-channel losses and duplicates, and latency of one fan-out run."""
    members = [numbers for r in receivers for numbers in r["numbers"]]
    tallies = [tally(sent["sent"], numbers) for numbers in members]
    unique = sum(t.unique for t in tallies)
    lost = sum(t.lost for t in tallies)
    expected = sent["sent"] * len(members)
    last = [r["last_receive"] for r in receivers if r["last_receive"] is not None]
    elapsed = max(last) - sent["first_send"] if last else None
    latencies = [ms for r in receivers for ms in r["latencies_ms"]]
    return {
        "msgs_per_s": unique / elapsed if elapsed else 0.0,
        "elapsed_s": elapsed,
        "send_s": sent["last_send"] - sent["first_send"],
        "sent": sent["sent"],
        "expected": expected,
        "unique": unique,
        "lost": lost,
        "duplicated": sum(t.duplicated for t in tallies),
        "unexpected": sum(t.unexpected for t in tallies),
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "max_ms": max(latencies) if latencies else None,
        "per_receiver": [sum(len(numbers) for numbers in r["numbers"]) for r in receivers],
        "notes": _notes(sent, receivers, lost, expected),
    }
