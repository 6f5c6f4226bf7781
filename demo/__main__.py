"""``python -m demo``: the Daphne chat demo; ``--two-processes`` for the layer-only demo.

Exit codes: 0 nothing was lost (and nothing duplicated or misdelivered), 1 something was, or
a step failed or timed out, 2 the channel layer is not importable, 130 interrupted before
the report. The broker and every process are stopped on every path out, including Ctrl-C
and SIGTERM (``demo.signals`` turns both into KeyboardInterrupt and shields the clean-up).
"""

from __future__ import annotations

import argparse
import sys
import time

from demo import signals


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="The chat project under two Daphnes and a worker over a private RabbitMQ, "
        "driven by scripted websocket clients; from a terminal it then stays up for a "
        "browser until Ctrl-C.",
    )
    parser.add_argument("--two-processes", action="store_true",
                        help="run the older layer-only demo: plain processes, no Django")
    parser.add_argument("--messages", type=int,
                        help="room broadcasts (default 200); with --two-processes: one-way "
                        "stream length (default 2000)")
    parser.add_argument("--tasks-per-client", type=int, default=10,
                        help="worker round trips per client (default 10)")
    parser.add_argument("--rate", type=float, default=400.0,
                        help="messages per second the clients send, together (default 400)")
    parser.add_argument("--round-trips", type=int, default=300,
                        help="--two-processes: timed ping-pongs")
    parser.add_argument("--tasks", type=int, default=400,
                        help="--two-processes: tasks for the work queue")
    parser.add_argument("--workers", type=int, default=2,
                        help="--two-processes: competing worker processes")
    parser.add_argument("--trace", action="store_true",
                        help="the Daphnes and the worker export OpenTelemetry spans (to files "
                        "in the log dir, plus any OTEL_TRACES_EXPORTER); at the end print one "
                        "broadcast's span tree across both Daphnes (also on when "
                        "OTEL_TRACES_EXPORTER or AMQP_CHANNELS_TRACE_FILE is set)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="bound on every single wait, in seconds (default 60)")
    parser.add_argument("--port", type=int, help="AMQP port of the private node (default: free)")
    parser.add_argument("--management-port", type=int,
                        help="management port of the private node (default: free)")
    args = parser.parse_args(argv)
    if (args.port is None) != (args.management_port is None):
        parser.error("give --port and --management-port together, or neither")
    if args.messages is None:
        args.messages = 2000 if args.two_processes else 200
    if min(args.messages, args.tasks_per_client) < 0 or args.rate <= 0:
        parser.error("counts must not be negative and --rate must be positive")
    return args


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signals.stop_on_signals()
    started = time.monotonic()
    try:
        from amqp_channels.layer import AMQPChannelLayer  # noqa: F401
    except Exception as exc:
        say(f"demo: the channel layer is not importable yet ({type(exc).__name__}: {exc})")
        return 2
    try:
        if args.two_processes:
            from demo import two_processes

            code = two_processes.run(args)
        else:
            from demo import chat_demo

            code = chat_demo.run(args)
    except KeyboardInterrupt:
        say("demo: interrupted; the broker and all demo processes are stopped")
        return 130
    except Exception as exc:  # BrokerError, DemoError, a process that would not start, ...
        say(f"demo: FAILED: {type(exc).__name__}: {exc}")
        say("demo: the broker and all demo processes are stopped")
        return 1
    say(f"(demo took {time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
