"""``python -m demo``: the chat project under two Daphnes and a worker, driven by a script.

Why it is the main demo: it is the layer doing its job in a deploy's shape (websockets on
two server processes, a background worker, a sync Django view) with every message counted.
Afterwards, from a terminal, the site stays up for a browser until Ctrl-C; from a pipe or
CI there is nobody to look, so it stops at once. The broker, both Daphnes and the worker
are stopped on every way out; their logs are kept only when something went wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from demo import chat_report, session, trace_tree
from demo.broker import broker_version, private_node
from demo.deploy import TASK_CHANNEL, Site, running_site

ROOM = "lobby"  # the room the chat page offers first, so a browser lands in it


def say(text: str) -> None:
    print(text, flush=True)


def describe(site: Site) -> list[str]:
    lines = [f"  {d.name}: daphne pid {d.pid} at {d.http_url}" for d in site.daphnes]
    if site.worker is not None:
        lines.append(f"  worker: manage.py runworker {TASK_CHANNEL}, pid {site.worker.pid}")
    return lines


def keep_running(site: Site) -> None:
    """Serve until Ctrl-C (or SIGTERM), or until one of the processes dies."""
    say("")
    say(f"The chat is running; open these in two browser tabs, join room {ROOM!r}:")
    for daphne in site.daphnes:
        say(f"  {daphne.http_url}")
    say("Press Ctrl-C to stop the Daphnes, the worker and the broker.")
    try:
        while not (dead := site.dead()):
            time.sleep(0.5)
        say(f"demo: {', '.join(dead)} exited on its own; stopping the rest")
    except KeyboardInterrupt:
        say("")
        say("stopping ...")


def run(args: argparse.Namespace) -> int:
    """Broker, site, session, report; then serve (terminal) or stop (anything else)."""
    plan = session.Plan(room=ROOM, messages=args.messages, tasks_per_tab=args.tasks_per_client,
                        rate=args.rate, timeout=args.timeout)
    log_dir = Path(tempfile.mkdtemp(prefix="amqp-channels-demo-logs-"))
    tracing = args.trace or tracing_on()
    code = 1
    try:
        say("starting a private RabbitMQ node ...")
        with private_node(args.port, args.management_port) as node:
            broker = (f"RabbitMQ {broker_version(node)} at {node.url} "
                      f"(private node, up in {node.startup_seconds:.1f} s)")
            say(f"  up: {broker}")
            say("starting two Daphnes and a worker for integration/chatsite ...")
            with running_site(node, log_dir, args.timeout, trace=tracing) as site:
                processes = describe(site)
                say("\n".join(processes))
                say(f"running the session: {len(session.TABS)} clients in room {ROOM!r}, "
                    f"{args.messages} broadcasts, whispers, "
                    f"{args.tasks_per_client * len(session.TABS)} tasks, one announcement ...")
                result = asyncio.run(session.run(site.daphnes, plan))
                say(chat_report.render(broker=broker, processes=processes, result=result))
                code = 1 if result.problems() else 0
                if tracing:
                    code = max(code, show_trace(log_dir, args.timeout))
                else:
                    say(TRACING_OFF)
                if sys.stdin.isatty():
                    keep_running(site)
                else:
                    say("stdin is not a terminal: not serving for a browser; stopping now.")
                say("stopping the Daphnes and the worker ...")
            say("stopping the broker ...")
        return code
    finally:
        if code == 0 and not tracing:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            say(f"demo: process logs kept in {log_dir}")


def tracing_on() -> bool:
    """The environment asks for spans (the Daphnes inherit it)."""
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    return bool((exporters and exporters != "none")
                or os.environ.get("AMQP_CHANNELS_TRACE_FILE"))


TRACING_OFF = ("tracing: off; run with --trace to see a broadcast as one trace across both "
               "Daphnes (OTEL_TRACES_EXPORTER=console or otlp also exports the spans there)")


def show_trace(log_dir: Path, timeout: float) -> int:
    """Print one broadcast's span tree from the processes' span files; 1 if there is none."""
    trace = trace_tree.wait_for_broadcast(log_dir, min(timeout, 10.0))
    if trace is None:
        say(f"tracing: FAILED: no broadcast trace spanning both Daphnes in {log_dir}")
        return 1
    say("")
    say(trace_tree.render(trace))
    say(f"tracing: every process's spans are in {log_dir}/{trace_tree.SPANS_GLOB}"
        + (f"; also exported to {os.environ['OTEL_TRACES_EXPORTER']}"
           if os.environ.get("OTEL_TRACES_EXPORTER", "none") != "none" else ""))
    return 0
