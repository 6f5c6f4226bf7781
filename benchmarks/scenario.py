"""What the stream scenarios ("p2p", "work", "fanout") share: bounds, setup, sender, orchestration.

Why one module: the three differ only in who receives and how (one channel, a shared normal
channel, 200 group members) and in what the sender sends; the way their processes are
started, warmed up, told that sending is over and waited for is the same, and so are the
time budgets. Keeping that in one place keeps the budgets of the scenarios consistent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from benchmarks.layers import LayerSpec, open_layer, ready_to_receive
from benchmarks.processes import ProcessGroup, Result, Role
from benchmarks.streams import finished_within, wait_event

#: Spawning a process, importing a layer and connecting; generous on a loaded 2-core machine.
SETUP_TIMEOUT = 30.0
WARMUP_TIMEOUT = 15.0
IDLE_TIMEOUT = 2.0

LayerStep = Callable[[Any], Awaitable[Any]]


async def new_receiving_channels(spec: LayerSpec, layer: Any, count: int = 1) -> list[str]:
    """``count`` channels from new_channel() that keep what is sent to them from now on.

    Why together: a channel name handed out before ready_to_receive() may lose messages on
    channels_rabbitmq (see there). Bounded by SETUP_TIMEOUT; a caller that does more setup in
    the same window wraps this call in its own SETUP_TIMEOUT, which then bounds the whole.
    """
    async with asyncio.timeout(SETUP_TIMEOUT):
        channels = [await layer.new_channel() for _ in range(count)]
        await ready_to_receive(spec, layer)
    return channels


async def warm_send_and_wait(
    spec: LayerSpec,
    *,
    warm: LayerStep,
    send: Callable[[Any], Awaitable[Result]],
    sender_finished: Any,
    receivers_finished: Sequence[Any],
    deadline: float,
    report: Callable[[Any], Result] = lambda layer: {},
) -> Result:
    """The body of every stream sender: warm up, send, then wait for the receivers.

    Why the wait: a sender that closes its connection while receivers still drain could
    take undelivered messages with it (some layers). ``sender_finished`` is set in any case,
    so receivers stop even when sending failed. ``report(layer)`` adds what only the open
    layer can tell afterwards (fanout: the drops it counted).
    """
    try:
        async with open_layer(spec) as layer:
            warmed_up = await finished_within(WARMUP_TIMEOUT, warm(layer))
            result = await send(layer)
            sender_finished.set()
            for event in receivers_finished:
                await finished_within(deadline + IDLE_TIMEOUT + 5, wait_event(event))
            extra = report(layer)
    finally:
        sender_finished.set()
    return {**result, "warmed_up": warmed_up, **extra}


def run_receivers_and_sender(
    procs: ProcessGroup,
    *,
    receiver: Role,
    receiver_keys: Sequence[str],
    receiver_kwargs: Mapping[str, Any],
    sender: Role,
    sender_kwargs: Mapping[str, Any],
    deadline: float,
    handoff: Callable[[], Mapping[str, Any]] | None = None,
    receiver_grace: float = 10,
) -> tuple[Result, list[Result]]:
    """Start the receivers, then one sender; return the sender's and receivers' results.

    Each receiver gets its own ``ready`` and ``receiver_finished`` events, the sender all of
    them, and everyone the shared ``sender_finished``. ``handoff()`` runs once the receivers
    are started and adds sender arguments known only then (p2p: the receiver's channel
    name). The budgets cover setup, warm-up, the send deadline and the receivers' idle wait.
    """
    sender_finished = procs.event()
    ready = {key: procs.event() for key in receiver_keys}
    finished = {key: procs.event() for key in receiver_keys}
    for key in receiver_keys:
        procs.start(
            key,
            receiver,
            **receiver_kwargs,
            ready=ready[key],
            sender_finished=sender_finished,
            receiver_finished=finished[key],
            deadline=SETUP_TIMEOUT + WARMUP_TIMEOUT + deadline,
        )
    procs.start(
        "sender",
        sender,
        **sender_kwargs,
        **(handoff() if handoff is not None else {}),
        ready=list(ready.values()),
        sender_finished=sender_finished,
        receivers_finished=list(finished.values()),
        deadline=deadline,
    )
    budget = SETUP_TIMEOUT + WARMUP_TIMEOUT + deadline * 2 + IDLE_TIMEOUT + 10
    sent = procs.result("sender", timeout=budget)
    received = [procs.result(key, timeout=IDLE_TIMEOUT + receiver_grace) for key in receiver_keys]
    return sent, received
