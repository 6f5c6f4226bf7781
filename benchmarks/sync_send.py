"""Scenario "sync": group_send calls per second from a plain thread, as Django views and
Celery tasks make them (code without an event loop).

A receiver process makes a channel with new_channel(), group_add()s it to one group and
drains it, so every call is really delivered to one member in another process. The sender
process runs its calls in a plain ``threading.Thread`` (no event loop in that thread), each
phase for a fixed time, one call after another:

* ``sync`` (our layer only): ``SyncPublisher(hosts=[url], prefix=...).group_send(...)``,
  then ``close()``;
* ``a2s`` (every layer): ``async_to_sync(layer.group_send)(group, message)``, what users
  do today. The layer is built once in the thread, outside any loop, like a process-wide
  ``get_channel_layer()``; asgiref runs every call on a fresh event loop in a fresh thread.
  channels_rabbitmq refuses to be built without a running loop, so for it each call builds
  the layer inside the coroutine and closes it again (its only way to work here).

One untimed call per phase runs first (connecting, declaring). Measured: calls per second
of each phase; the receiver tallies deliveries by phase and number (lost, duplicated).
Every wait is bounded: a call that hangs leaves the thread alive past its budget, and the
sender reports an error instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.layers import LayerSpec, build_layer, open_layer, ready_to_receive
from benchmarks.messages import WARMUP, tally
from benchmarks.processes import ProcessGroup, Result, describe
from benchmarks.scenario import IDLE_TIMEOUT, SETUP_TIMEOUT
from benchmarks.streams import finished_within, wait_event

SYNC_MESSAGE = "bench.sync"
#: Once a phase's time is up, the call in flight gets this long before the run is cut off.
CALL_TIMEOUT = 15.0
#: After the sender is done, the receiver gets this long to drain what is still queued.
DRAIN_TIMEOUT = 30.0
#: How often a blocked receive() is cancelled to look at the stop conditions.
_POLL = 0.25
_DUPLICATE_GRACE = 0.3


def _phases(spec: LayerSpec) -> tuple[str, ...]:
    return ("sync", "a2s") if spec.name == "amqp" else ("a2s",)


def _message(phase: str, n: int) -> dict[str, Any]:
    return {"type": SYNC_MESSAGE, "phase": phase, "n": n}


# --- the sender's plain thread: no event loop runs in it --------------------------------


def _timed(call: Callable[[dict[str, Any]], None], phase: str, seconds: float) -> dict[str, Any]:
    """Call back to back for ``seconds``, message ``n`` on call ``n``; the last call counts."""
    calls = 0
    started = time.monotonic()
    end = started + seconds
    while time.monotonic() < end:
        call(_message(phase, calls))
        calls += 1
    return {"calls": calls, "elapsed_s": time.monotonic() - started}


def _sync_phase(spec: LayerSpec, group: str, seconds: float) -> dict[str, Any]:
    from amqp_channels.sync import SyncPublisher

    pub = SyncPublisher(hosts=[spec.amqp_url], prefix=spec.prefix)
    try:
        pub.group_send(group, {"type": WARMUP})  # untimed: connects and declares
        return _timed(lambda message: pub.group_send(group, message), "sync", seconds)
    finally:
        pub.close()


async def _group_send_fresh_layer(spec: LayerSpec, group: str, message: dict[str, Any]) -> None:
    """channels_rabbitmq: build the layer in the call's own loop, send, close (bounded)."""
    async with open_layer(spec) as layer:
        await layer.group_send(group, message)


def _a2s_phase(spec: LayerSpec, group: str, seconds: float) -> dict[str, Any]:
    from asgiref.sync import async_to_sync

    if spec.name == "rabbitmq":

        def call(message: dict[str, Any]) -> None:
            async_to_sync(_group_send_fresh_layer)(spec, group, message)

    else:
        layer = build_layer(spec)  # outside any loop, like get_channel_layer() in a view

        def call(message: dict[str, Any]) -> None:
            async_to_sync(layer.group_send)(group, message)

    call({"type": WARMUP})  # untimed: the first call imports and connects
    return _timed(call, "a2s", seconds)


def _thread_main(spec: LayerSpec, group: str, seconds: float, out: dict[str, Any]) -> None:
    try:
        for phase in _phases(spec):
            run = _sync_phase if phase == "sync" else _a2s_phase
            out[phase] = run(spec, group, seconds)
    except BaseException as exc:  # reported by the role, which owns the process's result
        out["error"] = describe(exc)


# --- roles ----------------------------------------------------------------------------


async def sender_role(
    *,
    spec: LayerSpec,
    group: str,
    seconds: float,
    member_ready: Any,
    sender_finished: Any,
    totals: Any,
) -> Result:
    """Wait for the member, then make the calls in a plain thread, bounded in time."""
    try:
        if not await finished_within(SETUP_TIMEOUT, wait_event(member_ready)):
            raise TimeoutError(f"the member was not ready within {SETUP_TIMEOUT:.0f} s")
        out: dict[str, Any] = {}
        thread = threading.Thread(
            target=_thread_main,
            args=(spec, group, seconds, out),
            name="bench-sync",
            daemon=True,  # a hung call must not keep the process alive
        )
        thread.start()
        budget = len(_phases(spec)) * (seconds + CALL_TIMEOUT + SETUP_TIMEOUT)
        if not await finished_within(budget, _wait_thread(thread)):
            raise TimeoutError(
                f"a call hung: the thread was not done within {budget:.0f} s (done so far: {out})"
            )
        if "error" in out:
            raise RuntimeError(out["error"])
        totals.put({phase: out[phase]["calls"] for phase in _phases(spec)})
        return {"phases": out}
    finally:
        sender_finished.set()


async def _wait_thread(thread: threading.Thread) -> None:
    while thread.is_alive():
        await asyncio.sleep(0.05)


async def receiver_role(
    *,
    spec: LayerSpec,
    group: str,
    member_ready: Any,
    sender_finished: Any,
    totals: Any,
    deadline: float,
) -> Result:
    """Be the group's one member and drain it; stop once every call arrived, or when idle."""
    async with open_layer(spec) as layer:
        async with asyncio.timeout(SETUP_TIMEOUT):
            channel = await layer.new_channel()
            await ready_to_receive(spec, layer)
            await layer.group_add(group, channel)
        member_ready.set()
        numbers: dict[str, list[Any]] = {}
        seen: dict[str, set[Any]] = {}
        expected: dict[str, int] | None = None
        stopped_by = "deadline"
        idle_since = time.monotonic()
        end = idle_since + deadline
        while time.monotonic() < end:
            if expected is None and sender_finished.is_set():
                with contextlib.suppress(queue.Empty):
                    expected = totals.get_nowait()
            if stopped_by == "deadline" and _complete(seen, expected):
                stopped_by = "complete"
                end = min(end, time.monotonic() + _DUPLICATE_GRACE)
            try:
                async with asyncio.timeout(_POLL):
                    message = await layer.receive(channel)
            except TimeoutError:
                if sender_finished.is_set() and time.monotonic() - idle_since >= IDLE_TIMEOUT:
                    if stopped_by == "deadline":
                        stopped_by = "idle"
                    break
                continue
            idle_since = time.monotonic()
            if message.get("type") != SYNC_MESSAGE:
                continue  # a warm-up call
            phase = message.get("phase")
            numbers.setdefault(phase, []).append(message.get("n"))
            seen.setdefault(phase, set()).add(message.get("n"))
    return {"numbers": numbers, "stopped_by": stopped_by}


def _complete(seen: dict[str, set[Any]], expected: dict[str, int] | None) -> bool:
    """Every call of every phase arrived (known once the sender handed over its counts)."""
    return expected is not None and all(
        len(seen.get(phase, ())) >= count for phase, count in expected.items()
    )


def measure(spec: LayerSpec, *, seconds: float) -> Result:
    """Run one member and one sender for ``spec``; report calls per second per phase."""
    group = f"{spec.prefix}.sync"
    phases = len(_phases(spec))
    with ProcessGroup() as procs:
        member_ready, sender_finished, totals = procs.event(), procs.event(), procs.queue()
        common = dict(
            spec=spec,
            group=group,
            member_ready=member_ready,
            sender_finished=sender_finished,
            totals=totals,
        )
        procs.start(
            "receiver",
            receiver_role,
            **common,
            deadline=SETUP_TIMEOUT + phases * (seconds + CALL_TIMEOUT) + DRAIN_TIMEOUT,
        )
        procs.start("sender", sender_role, **common, seconds=seconds)
        budget = SETUP_TIMEOUT * 2 + phases * (seconds + CALL_TIMEOUT + SETUP_TIMEOUT) + 10
        sent = procs.result("sender", timeout=budget)
        received = procs.result("receiver", timeout=DRAIN_TIMEOUT + 10)
    return summarise(sent, received)


def summarise(sent: Result, received: Result) -> Result:
    """Calls per second of each phase, and what reached the member."""
    phases = sent["phases"]
    rates = {p: r["calls"] / r["elapsed_s"] if r["elapsed_s"] else 0.0 for p, r in phases.items()}
    tallies = {p: tally(r["calls"], received["numbers"].get(p, [])) for p, r in phases.items()}
    lost = sum(t.lost for t in tallies.values())
    notes = []
    if received["stopped_by"] != "complete":
        notes.append(f"receiver stopped by {received['stopped_by']}")
    if lost:
        calls = sum(r["calls"] for r in phases.values())
        notes.append(f"lost {lost} of {calls} deliveries to the member")
    return {
        "sync_calls_per_s": rates.get("sync", rates["a2s"]),
        "a2s_calls_per_s": rates["a2s"],
        **({"sync_calls": phases["sync"]["calls"]} if "sync" in phases else {}),
        "a2s_calls": phases["a2s"]["calls"],
        "lost": lost,
        "duplicated": sum(t.duplicated for t in tallies.values()),
        "phases": {p: {**r, **tallies[p].as_dict()} for p, r in phases.items()},
        "notes": notes,
    }
