"""The cost of telemetry on the send path: ``python -m benchmarks.telemetry``.

Why its own entry point: it compares amqp-channels with itself, in one process, so the
three modes share the machine's state; rounds interleave the modes (off, api, sdk, off,
api, sdk, ...) so drift of a shared machine hits all of them alike. Each round sends
``--messages`` one awaited ``send()`` after another from one layer to a ``new_channel()`` of
a second layer (through the broker, publisher confirms included) while a task receives them.

* ``off``: CONFIG ``telemetry: False`` (the layer never asks OpenTelemetry anything);
* ``api``: the default with only the API in use (no SDK provider): the shipped case;
* ``sdk``: SDK tracer and meter providers passed in CONFIG, spans exported to an exporter
  that drops them: what tracing itself costs (spans, header injection, extraction, per
  message property encoding, the latency histogram).

Reported: median msg/s per mode and the overhead against ``off``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

from amqp_channels.layer import AMQPChannelLayer
from benchmarks.servers import rabbitmq_node

MODES = ("off", "api", "sdk")


class DroppingExporter:
    """A span exporter that exports nowhere: the SDK's work without I/O."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def mode_config(mode: str) -> dict[str, Any]:
    if mode == "off":
        return {"telemetry": False}
    if mode == "api":
        return {}
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(DroppingExporter()))
    return {"tracer_provider": tracer_provider, "meter_provider": MeterProvider()}


async def one_round(url: str, mode: str, messages: int) -> float:
    """Messages per second for one round in ``mode``."""
    config = {"hosts": [url], "prefix": f"bench-{mode}", "capacity": 1_000_000,
              **mode_config(mode)}
    sender, receiver = AMQPChannelLayer(**config), AMQPChannelLayer(**config)
    try:
        channel = await receiver.new_channel()
        await sender.send(channel, {"type": "warm"})
        await asyncio.wait_for(receiver.receive(channel), 10)

        async def drain() -> None:
            for _ in range(messages):
                await receiver.receive(channel)

        draining = asyncio.create_task(drain())
        started = time.perf_counter()
        for n in range(messages):
            await sender.send(channel, {"type": "bench.message", "text": "hello", "n": n})
        await asyncio.wait_for(draining, 60)
        return messages / (time.perf_counter() - started)
    finally:
        await sender.close()
        await receiver.close()


async def measure(url: str, messages: int, rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            rates[mode].append(await one_round(url, mode, messages))
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telemetry")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--amqp-port", type=int, default=5691)
    args = parser.parse_args(argv)
    with rabbitmq_node(args.amqp_port, args.amqp_port + 10000) as node:
        rates = asyncio.run(measure(node.url, args.messages, args.rounds))
    base = statistics.median(rates["off"])
    print("| mode | median msg/s | overhead vs off | rounds (msg/s) |")
    print("|---|---:|---:|---|")
    for mode in MODES:
        median = statistics.median(rates[mode])
        print(f"| {mode} | {median:,.0f} | {100 * (base - median) / base:+.1f}% | "
              f"{', '.join(f'{r:,.0f}' for r in rates[mode])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
