"""One broadcast as a span tree across processes, read from the demo's span files.

Why it exists: the demo's tracing claim is "a broadcast is one trace from the websocket
frame in on one Daphne to the frames out on the other". With ``--trace`` every process
writes its finished spans as JSON lines (``integration/chatsite/telemetry.py``); this module
joins them by trace id, picks the first broadcast whose trace reached more than one
process, and renders it as a tree: process, span name, kind, start offset and duration.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Span = dict[str, Any]
BROADCAST = "group_send room-{room}"  # the chat consumer's span-name template for rooms
SPANS_GLOB = "*.spans.jsonl"


def read_spans(directory: Path) -> list[Span]:
    """Every span in ``directory``'s span files (a line cut short by a writer is skipped)."""
    spans = []
    for path in sorted(directory.glob(SPANS_GLOB)):
        for line in path.read_text(errors="replace").splitlines():
            try:
                spans.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return spans


def broadcast_trace(spans: Iterable[Span]) -> list[Span] | None:
    """The spans of the earliest broadcast whose trace spans two processes or more, with a
    frame sent out in each of them; ``None`` if there is none (yet)."""
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span["trace_id"]].append(span)
    complete = []
    for trace in traces.values():
        if not any(s["name"] == BROADCAST for s in trace):
            continue
        if len({s["service"] for s in trace if s["name"] == "websocket.send"}) >= 2:
            complete.append(trace)
    return min(complete, key=lambda t: min(s["start_ns"] for s in t), default=None)


def wait_for_broadcast(directory: Path, timeout: float) -> list[Span] | None:
    """``broadcast_trace`` of the files, waiting up to ``timeout`` for spans still ending."""
    deadline = time.monotonic() + timeout
    while (trace := broadcast_trace(read_spans(directory))) is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    return trace


def render(trace: list[Span]) -> str:
    """The trace as an indented tree, children in start order, times relative to its start."""
    ids = {s["span_id"] for s in trace}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in trace:
        parent = span["parent_span_id"]
        children[parent if parent in ids else None].append(span)
    start = min(s["start_ns"] for s in trace)
    services = sorted({s["service"] for s in trace})
    lines = [f"one broadcast as one trace ({trace[0]['trace_id']}): {len(trace)} spans "
             f"in {', '.join(services)}",
             f"  {'process':<10}{'span':<44}{'kind':<10}{'start ms':>9}{'took ms':>9}"]

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children[parent], key=lambda s: s["start_ns"]):
            name = "  " * depth + span["name"]
            lines.append(f"  {span['service']:<10}{name:<44}{span['kind']:<10}"
                         f"{(span['start_ns'] - start) / 1e6:>9.2f}"
                         f"{(span['end_ns'] - span['start_ns']) / 1e6:>9.2f}")
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)
