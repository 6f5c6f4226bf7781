"""``python -m demo --two-processes``: the layer alone, between plain Python processes.

Why it is kept: it measures the layer without Django, Daphne or websockets in the way (a
one-way stream, timed ping-pongs, competing workers), which is what to look at when the
Daphne demo's numbers need explaining. Exit codes as in ``demo.__main__``.
"""

from __future__ import annotations

import argparse

from demo import report, scenarios
from demo.broker import broker_version, private_node


def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    """The three experiments on one private node, then the report."""
    say("starting a private RabbitMQ node ...")
    with private_node(args.port, args.management_port) as node:
        broker = (
            f"RabbitMQ {broker_version(node)} at {node.url} "
            f"(private node, up in {node.startup_seconds:.1f} s)"
        )
        say(f"  up: {broker}")
        t = args.timeout
        say(f"1/3 one-way stream: {args.messages} messages from process A to process B ...")
        stream = scenarios.stream(node.url, count=args.messages, timeout=t)
        say(f"2/3 ping-pong: {args.round_trips} round trips ...")
        ping = scenarios.ping_pong(node.url, rounds=args.round_trips, warmup=20, timeout=t)
        say(f"3/3 work queue: {args.tasks} tasks, {args.workers} competing workers ...")
        work = scenarios.work_queue(node.url, tasks=args.tasks, workers=args.workers, timeout=t)
        say("stopping the broker ...")
    say(report.render(broker=broker, stream=stream, ping=ping, work=work))
    return 1 if stream.problems() + ping.problems() + work.problems() else 0
