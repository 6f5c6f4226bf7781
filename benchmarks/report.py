"""Turn the results of one run into the markdown table and the JSON file.

Why: one place decides what each row means and how a failure or an unsupported scenario is
shown, so a reader compares the same thing across columns. Rows are scenarios, columns are
layers, then the ratios of our layer to channels_rabbitmq and to channels_redis.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.layers import LAYER_LABELS

#: results[layer][scenario] is a measurement, {"error": str}, {"na": str}, or absent.
Results = dict[str, dict[str, dict[str, Any]]]

_CELL_ERROR_CHARS = 60


@dataclass(frozen=True)
class Row:
    """One line of the table: which scenario, how to read a number from it, how to show it."""

    scenario: str
    label: str
    value: Callable[[dict[str, Any]], Any]
    #: Only rows with a single number get a ratio column.
    numeric: bool = True


def _lost_dup(r: dict[str, Any]) -> str:
    return f"{r['lost']} / {r['duplicated']}"


def _sync_counts(r: dict[str, Any]) -> str:
    return f"{r.get('sync_calls', '-')} / {r['a2s_calls']}, {r['lost']} / {r['duplicated']}"


def _split(r: dict[str, Any]) -> str:
    return " / ".join(str(n) for n in r["per_receiver"])


ROWS: tuple[Row, ...] = (
    Row("p2p", "p2p: process-specific channel (msg/s)", lambda r: r["msgs_per_s"]),
    Row("p2p", "p2p: lost / duplicated (all runs)", _lost_dup, numeric=False),
    Row("work", "normal channel, 2 receivers (msg/s)", lambda r: r["msgs_per_s"]),
    Row("work", "normal channel: lost / duplicated (all runs)", _lost_dup, numeric=False),
    Row("work", "normal channel: deliveries to A / B (all runs)", _split, numeric=False),
    Row("rtt", "RTT p50 (ms)", lambda r: r.get("p50_ms")),
    Row("rtt", "RTT p99 (ms)", lambda r: r.get("p99_ms")),
    Row("rtt", "RTT lost pongs (all runs)", lambda r: r["lost"], numeric=False),
    Row("fanout", "group fan-out, 200 members (deliveries/s)", lambda r: r["msgs_per_s"]),
    Row(
        "fanout",
        "group fan-out: lost / duplicated deliveries (all runs)",
        _lost_dup,
        numeric=False,
    ),
    Row("fanout", "group fan-out: latency p50 (ms)", lambda r: r.get("p50_ms")),
    Row("fanout", "group fan-out: latency p99 (ms)", lambda r: r.get("p99_ms")),
    Row("churn", "group churn: add+discard pairs/s", lambda r: r["pairs_per_s"]),
    Row("sync", "sync group_send from a thread (calls/s)", lambda r: r["sync_calls_per_s"]),
    Row(
        "sync",
        "async_to_sync(layer.group_send) from a thread (calls/s)",
        lambda r: r["a2s_calls_per_s"],
    ),
    Row(
        "sync",
        "sync: calls sync / async_to_sync, lost / duplicated (all runs)",
        _sync_counts,
        numeric=False,
    ),
)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def _measured(result: dict[str, Any] | None) -> bool:
    return result is not None and "error" not in result and "na" not in result


def _cell(result: dict[str, Any] | None, row: Row) -> str:
    if result is None:
        return "-"
    if "na" in result:
        return "n/a"
    if "error" in result:
        text = str(result["error"])
        short = text if len(text) <= _CELL_ERROR_CHARS else text[:_CELL_ERROR_CHARS] + "..."
        return "error: " + short.replace("|", "/")
    value = row.value(result)
    return "-" if value is None else _number(value)


def _ratio(ours: dict[str, Any] | None, theirs: dict[str, Any] | None, row: Row) -> str:
    if not (row.numeric and _measured(ours) and _measured(theirs)):
        return "-"
    a, b = row.value(ours or {}), row.value(theirs or {})
    if not isinstance(a, int | float) or not isinstance(b, int | float) or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def _footnotes(results: Results) -> list[str]:
    lines = []
    for layer, scenarios in results.items():
        for scenario, result in scenarios.items():
            where = f"`{LAYER_LABELS[layer]}` {scenario}"
            if "error" in result:
                lines.append(f"- {where}: error: {result['error']}")
            elif "na" in result:
                lines.append(f"- {where}: n/a: {result['na']}")
            for note in result.get("notes", []):
                lines.append(f"- {where}: {note}")
    return lines


def markdown(results: Results, *, machine: dict[str, Any], settings: dict[str, Any]) -> str:
    """The report as markdown: settings, machine, the table, then errors and notes."""
    layers = list(results)
    header = [
        "scenario",
        *(LAYER_LABELS[name] for name in layers),
        "amqp / rabbitmq",
        "amqp / redis",
    ]
    lines = ["# Channel layer benchmarks", ""]
    lines.append("Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".")
    lines.append("")
    lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    measured = {scenario for scenarios in results.values() for scenario in scenarios}
    for row in (row for row in ROWS if row.scenario in measured):
        cells = [_cell(results[name].get(row.scenario), row) for name in layers]
        amqp = results.get("amqp", {}).get(row.scenario)
        cells.append(_ratio(amqp, results.get("rabbitmq", {}).get(row.scenario), row))
        cells.append(_ratio(amqp, results.get("redis", {}).get(row.scenario), row))
        lines.append("| " + " | ".join([row.label, *cells]) + " |")
    lines += [
        "",
        "Rates and latencies are medians over the runs. Ratios are amqp's value "
        "divided by the other's: above 1 is better for rates (msg/s, deliveries/s, pairs/s, "
        "calls/s), worse for milliseconds. "
        "`raw aio-pika` and `bare client` are ceilings: plain aio-pika and our own AMQP "
        "client with no layer on top, publisher confirms awaited per message. Group "
        "fan-out runs at each layer's default capacity, so its lost deliveries are what an "
        "untuned deployment drops; a layer that drops more has less to deliver, so read its "
        "rate and latency together with its losses.",
    ]
    if "sync" in measured:
        lines[-1] += (
            " In the sync rows, `amqp` uses its `SyncPublisher`; `redis` and `rabbitmq` have "
            "no sync publisher, so their sync row repeats their `async_to_sync` measurement; "
            "`rabbitmq` builds and closes its layer inside every `async_to_sync` call, as it "
            "refuses to be built without a running loop."
        )
    footnotes = _footnotes(results)
    if footnotes:
        lines += ["", "Notes:", "", *footnotes]
    return "\n".join(lines) + "\n"


def write(
    results: Results, *, machine: dict[str, Any], settings: dict[str, Any], out_dir: Path
) -> str:
    """Write results.md and results.json into ``out_dir``; return the markdown."""
    text = markdown(results, machine=machine, settings=settings)
    (out_dir / "results.md").write_text(text)
    payload = {"machine": machine, "settings": settings, "results": results}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return text
