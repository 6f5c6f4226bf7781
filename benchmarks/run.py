"""Measure every scenario against every layer in one run, and write the report.

Why one entry point: the comparison is only fair when all layers run back to back on the
same machine against the same private brokers. Each (layer, scenario) pair is guarded: a
failure is recorded as "error: ..." and the run goes on. Brokers and processes started here
are stopped on the way out, also after Ctrl-C, SIGTERM or an exception.

    .venv/bin/python -m benchmarks.run            # or: python benchmarks/run.py
    .venv/bin/python -m benchmarks.run --layers amqp,redis --scenarios p2p --messages 2000
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import churn, fanout, p2p, rtt, sync_send, work
from benchmarks.aggregate import combine
from benchmarks.layers import LAYER_LABELS, LAYER_NAMES, UNSUPPORTED, LayerSpec
from benchmarks.machine import machine_info
from benchmarks.processes import Result, describe
from benchmarks.report import Results, write
from benchmarks.servers import Servers, running_servers, wait_until_idle

SCENARIOS = ("p2p", "work", "rtt", "fanout", "churn", "sync")


def _log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _csv(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        names = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; expected some of {allowed}")
        return names

    return parse


#: The numeric options as (flag, type, default, help), in --help order: one table, because
#: they differ only in these four values.
_NUMBERS: tuple[tuple[str, Callable[[str], float], float, str | None], ...] = (
    ("--messages", int, 5000, "per throughput run"),
    ("--round-trips", int, 2000, "timed RTT samples"),
    ("--warmup-round-trips", int, 200, None),
    ("--group-sends", int, 300, "group_send calls per fanout run"),
    # Longer than amqp-channels' 5 s unbind linger, so deferred unbinds count against it.
    ("--churn-seconds", float, 12.0, "length of one churn run (keep it above 5 s)"),
    ("--sync-seconds", float, 3.0, "length of each timed phase of one sync run"),
    ("--repeat", int, 3, "rounds; the table shows medians and summed counts"),
    ("--deadline", float, 30.0, "seconds a send loop or ping loop may take before it is cut off"),
    ("--amqp-port", int, 5690, None),
    ("--management-port", int, 15690, None),
    ("--redis-port", int, 6390, None),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--layers",
        type=_csv(LAYER_NAMES),
        default=list(LAYER_NAMES),
        help="comma-separated, from: " + ",".join(LAYER_NAMES),
    )
    parser.add_argument(
        "--scenarios",
        type=_csv(SCENARIOS),
        default=list(SCENARIOS),
        help="comma-separated, from: " + ",".join(SCENARIOS),
    )
    for flag, kind, default, help_text in _NUMBERS:
        parser.add_argument(flag, type=kind, default=default, help=help_text)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    return parser


def _measure(scenario: str, spec: LayerSpec, args: argparse.Namespace) -> Result:
    if scenario == "p2p":
        return p2p.measure(spec, count=args.messages, deadline=args.deadline)
    if scenario == "work":
        return work.measure(spec, count=args.messages, deadline=args.deadline)
    if scenario == "fanout":
        return fanout.measure(spec, count=args.group_sends, deadline=args.deadline)
    if scenario == "churn":
        return churn.measure(spec, seconds=args.churn_seconds)
    if scenario == "sync":
        return sync_send.measure(spec, seconds=args.sync_seconds)
    return rtt.measure(
        spec, warmup=args.warmup_round_trips, rounds=args.round_trips, deadline=args.deadline
    )


def _summary(result: Result) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    if "a2s_calls_per_s" in result:
        return (
            f"sync {result['sync_calls_per_s']:,.0f} calls/s, async_to_sync "
            f"{result['a2s_calls_per_s']:,.0f} calls/s, lost {result['lost']}, "
            f"duplicated {result['duplicated']}"
        )
    if "pairs_per_s" in result:
        return f"{result['pairs_per_s']:,.0f} add+discard pairs/s ({result['pairs']} pairs)"
    if "msgs_per_s" in result:
        text = (
            f"{result['msgs_per_s']:,.0f} msg/s, lost {result['lost']}, "
            f"duplicated {result['duplicated']}"
        )
        if result.get("p50_ms") is not None:  # fanout: rate and latency
            text += f", p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
        return text
    if "p50_ms" in result:
        return f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
    return str(result)


def _measure_guarded(
    scenario: str, name: str, servers: Servers, args: argparse.Namespace
) -> Result:
    """One run of one pair, in fresh processes with a fresh prefix; errors become results."""
    spec = LayerSpec(
        name=name,
        amqp_url=servers.amqp_url,
        redis_host=servers.redis_host,
        prefix=f"bench{secrets.token_hex(4)}",
    )
    settled = wait_until_idle(servers.pids)
    started = time.monotonic()
    try:
        result = _measure(scenario, spec, args)
    except Exception as exc:  # one layer failing must not end the run
        result = {"error": describe(exc)}
    # Other work on the machine skews a run; keep the load next to the numbers.
    result["load_1min"] = round(os.getloadavg()[0], 2)
    result["settle_s"] = round(settled, 1)
    _log(
        f"{scenario:<6} {LAYER_LABELS[name]:<12} {_summary(result)} "
        f"({time.monotonic() - started:.1f} s, after {settled:.1f} s for the brokers to idle)"
    )
    return result


def run_all(args: argparse.Namespace, servers: Servers) -> Results:
    """Every scenario for every layer, ``--repeat`` rounds, interleaved so noise is shared.

    A pair that failed once is not run again: its error is the result, and a layer that
    hangs until its deadlines costs that time only once.
    """
    runs: dict[tuple[str, str], list[Result]] = {}
    for round_number in range(1, args.repeat + 1):
        _log(f"round {round_number} of {args.repeat}")
        for scenario in args.scenarios:
            for name in args.layers:
                if (name, scenario) in UNSUPPORTED:
                    continue
                done = runs.setdefault((name, scenario), [])
                if any("error" in run for run in done):
                    continue
                done.append(_measure_guarded(scenario, name, servers, args))
    results: Results = {name: {} for name in args.layers}
    for scenario in args.scenarios:
        for name in args.layers:
            reason = UNSUPPORTED.get((name, scenario))
            results[name][scenario] = (
                {"na": reason} if reason is not None else combine(runs[(name, scenario)])
            )
    return results


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # unwind, so brokers get stopped
    started = time.monotonic()
    loadavg_before = os.getloadavg()[0]
    try:
        _log(f"starting RabbitMQ on 127.0.0.1:{args.amqp_port}, redis on :{args.redis_port}")
        with running_servers(
            amqp_port=args.amqp_port,
            management_port=args.management_port,
            redis_port=args.redis_port,
        ) as servers:
            _log(f"brokers up after {time.monotonic() - started:.1f} s")
            results = run_all(args, servers)
            _log("stopping brokers")
    except KeyboardInterrupt:
        _log("interrupted; brokers and processes stopped")
        return 130
    machine = machine_info(
        rabbitmq_version=servers.rabbitmq_version,
        redis_version=servers.redis_version,
        loadavg_before=loadavg_before,
    )
    settings = {
        "repeat": args.repeat,
        "messages": args.messages,
        "round_trips": args.round_trips,
        "warmup_round_trips": args.warmup_round_trips,
        "group_sends": args.group_sends,
        "churn_seconds": args.churn_seconds,
        "sync_seconds": args.sync_seconds,
        "total_s": round(time.monotonic() - started),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(write(results, machine=machine, settings=settings, out_dir=args.out_dir), end="")
    _log(f"wrote {args.out_dir / 'results.md'} and results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
