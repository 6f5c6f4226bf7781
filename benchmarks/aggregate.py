"""Fold the repeated runs of one (layer, scenario) pair into the one result the table shows.

Why: on a small machine shared with other work a single run is noisy (we saw 2x swings).
Rates and latencies are the median over runs; message counts (sent, lost, duplicated) are
summed, so a single lost message in any run stays visible. Every run is kept under "runs".
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.processes import Result

_MEDIAN = (
    "msgs_per_s",
    "pairs_per_s",
    "sync_calls_per_s",
    "a2s_calls_per_s",
    "elapsed_s",
    "send_s",
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "max_ms",
)
_SUM = (
    "sent",
    "expected",
    "refused",
    "unique",
    "lost",
    "duplicated",
    "unexpected",
    "round_trips",
    "pairs",
    "sync_calls",
    "a2s_calls",
)


def combine(runs: list[Result]) -> Result:
    """One result from several runs; an error in any run makes the whole pair an error."""
    for i, run in enumerate(runs, start=1):
        if "error" in run:
            where = f" (run {i} of {len(runs)})" if len(runs) > 1 else ""
            return {"error": run["error"] + where, "runs": runs}
    combined: dict[str, Any] = {"runs": runs}
    for key in _MEDIAN:
        values = [run[key] for run in runs if run.get(key) is not None]
        if values:
            combined[key] = statistics.median(values)
    for key in _SUM:
        if any(key in run for run in runs):
            combined[key] = sum(run.get(key, 0) for run in runs)
    shares = [run["per_receiver"] for run in runs if "per_receiver" in run]
    if shares:
        combined["per_receiver"] = [sum(column) for column in zip(*shares, strict=True)]
    combined["notes"] = [
        f"run {i}: {note}" if len(runs) > 1 else note
        for i, run in enumerate(runs, start=1)
        for note in run.get("notes", [])
    ]
    return combined
