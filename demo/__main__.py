"""``python -m demo``: start a private RabbitMQ, run the three experiments, print the report.

Exit codes: 0 all guarantees held, 1 a guarantee was violated or a step failed or timed out,
2 the channel layer is not importable, 130 interrupted. The broker and every process are
stopped on every path out, including Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
import time

from demo import report, scenarios, signals
from demo.broker import BrokerError, broker_version, private_node
from demo.crew import DemoError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Two processes talking through amqp_channels over a private RabbitMQ.",
    )
    parser.add_argument("--messages", type=int, default=2000, help="one-way stream length")
    parser.add_argument("--round-trips", type=int, default=300, help="timed ping-pongs")
    parser.add_argument("--tasks", type=int, default=400, help="tasks for the work queue")
    parser.add_argument("--workers", type=int, default=2, help="competing worker processes")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="bound on every single wait, in seconds (default 60)",
    )
    parser.add_argument("--port", type=int, help="AMQP port of the private node (default: free)")
    parser.add_argument(
        "--management-port", type=int, help="management port of the private node (default: free)"
    )
    args = parser.parse_args(argv)
    if (args.port is None) != (args.management_port is None):
        parser.error("give --port and --management-port together, or neither")
    return args


def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        from amqp_channels.layer import AMQPChannelLayer  # noqa: F401
    except Exception as exc:
        say(f"demo: the channel layer is not importable yet ({type(exc).__name__}: {exc})")
        return 2
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signals.stop_on_signals()
    started = time.monotonic()
    try:
        code = run(args)
    except KeyboardInterrupt:
        say("demo: interrupted; the broker and all demo processes are stopped")
        return 130
    except (BrokerError, DemoError) as exc:
        say(f"demo: FAILED: {exc}")
        say("demo: the broker and all demo processes are stopped")
        return 1
    say(f"(demo took {time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
