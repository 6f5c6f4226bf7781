"""Load test of the chat project: many websocket clients on two Daphnes, per layer.

Why it exists: the other benchmarks measure a layer alone; this one measures it where it is
used, under Daphne with real websocket clients, and compares the same run on
``channels_redis``. The offered load is fixed (``--rate`` room messages per second over all
rooms, each said by one member and delivered to all of them), so both layers get the same
work and the interesting numbers are latency, losses and what the Daphnes cost.

    .venv/bin/python -m benchmarks.load          # 1,000 clients, 50 rooms, 20 s, both layers
    .venv/bin/python -m benchmarks.load --layers amqp --clients 20 --rooms 2 --seconds 2

Client ``i`` joins room ``i % rooms`` on Daphne ``(i // rooms) % 2``, so every room spans
both Daphnes. Clients run in ``--client-processes`` spawned processes; message ``k`` is said
by the first client of room ``k % rooms`` at ``start + k / rate``, stamped with
``time.monotonic()`` (one clock for the machine), and every member records its latency. A
private RabbitMQ node and redis-server are started on loopback and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.processes import ProcessGroup, Result
from benchmarks.servers import cpu_seconds, rabbitmq_node, redis_server
from integration.tests.processes import Daphne, project_env

LAYERS = ("amqp", "redis")
SETUP_TIMEOUT = 240.0  # 1,000 websocket handshakes and 2,000 group_adds on a loaded machine
CONNECTS_AT_ONCE = 50
DRAIN = 5.0


@dataclass(frozen=True)
class Plan:
    clients: int
    rooms: int
    seconds: float
    rate: float  # room messages per second, all rooms together
    client_processes: int
    drain: float = DRAIN  # seconds to keep listening after the last message was said

    @property
    def messages(self) -> int:
        return int(self.seconds * self.rate)

    def members(self, room: int) -> int:
        return len(range(room, self.clients, self.rooms))

    def expected_deliveries(self) -> int:
        return sum(self.members(k % self.rooms) for k in range(self.messages))


def raise_fd_limit() -> None:
    """Each websocket is a file descriptor in a client process and in a Daphne."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the client processes ---------------------------------------------------------------------

async def clients_role(*, index: int, plan: Plan, urls: list[str], ready: Any, go: Any
                       ) -> Result:
    """The clients ``i`` with ``i % client_processes == index``: join, say, listen, count."""
    from websockets.asyncio.client import connect

    raise_fd_limit()
    mine = range(index, plan.clients, plan.client_processes)
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def join(client: int) -> Any:
        url = urls[(client // plan.rooms) % 2] + f"ws/chat/r{client % plan.rooms}/?user=u{client}"
        async with gate:
            ws = await connect(url.replace("http://", "ws://"), open_timeout=60,
                               close_timeout=2, max_queue=None)
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome", welcome
        return ws

    async with asyncio.timeout(SETUP_TIMEOUT):
        sockets = dict(zip(mine, await asyncio.gather(*(join(c) for c in mine)), strict=True))
    ready.put(len(sockets))
    start = await asyncio.to_thread(go.get, timeout=SETUP_TIMEOUT)

    seen: Counter[tuple[int, int]] = Counter()  # (client, k) -> deliveries
    latencies: list[float] = []
    last = 0.0

    async def listen(client: int, ws: Any) -> None:
        nonlocal last
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "chat.message":
                k, stamp = frame["text"].split()
                now = time.monotonic()
                latencies.append(now - float(stamp))
                seen[(client, int(k))] += 1
                last = now

    lag = 0.0
    sent = 0

    async def speak() -> None:
        nonlocal lag, sent
        for k in range(plan.messages):
            speaker = k % plan.rooms  # the first client of the room
            if speaker not in sockets:
                continue
            due = start + k / plan.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            lag = max(lag, now - due)
            await sockets[speaker].send(json.dumps({"action": "say", "text": f"{k} {now}"}))
            sent += 1

    listeners = [asyncio.create_task(listen(c, ws)) for c, ws in sockets.items()]
    await speak()
    await asyncio.sleep(max(0.0, start + plan.seconds + plan.drain - time.monotonic()))
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    return {"sent": sent, "unique": len(seen), "duplicated": sum(seen.values()) - len(seen),
            "latencies": latencies, "last": last, "send_lag_max": lag}


# -- the run ------------------------------------------------------------------------------------

def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds user+system) of a process, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb / 1024, cpu_seconds(pid)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(layer: str, plan: Plan, env: dict[str, str], log_dir: Path) -> Result:
    """One run of ``plan`` against two fresh Daphnes configured by ``env``."""
    daphnes = [Daphne(f"{layer}-daphne{i + 1}", env, log_dir) for i in range(2)]
    try:
        for daphne in daphnes:
            daphne.start()
        with ProcessGroup() as procs:
            queues = []
            for index in range(plan.client_processes):
                ready, go = procs.queue(), procs.queue()
                procs.start(f"clients{index}", clients_role, index=index, plan=plan,
                            urls=[d.http_url for d in daphnes], ready=ready, go=go)
                queues.append((f"clients{index}", ready, go))
            connected = sum(procs.receive_from(ready, key=key, timeout=SETUP_TIMEOUT)
                            for key, ready, _go in queues)
            cpu_before = [proc_stats(d.pid)[1] for d in daphnes]
            start = time.monotonic() + 1.0
            for _key, _ready, go in queues:
                go.put(start)
            peak = [0.0, 0.0]
            while time.monotonic() < start + plan.seconds:
                for i, daphne in enumerate(daphnes):
                    peak[i] = max(peak[i], proc_stats(daphne.pid)[0])
                time.sleep(0.5)
            cpu = [proc_stats(d.pid)[1] - before for d, before in zip(daphnes, cpu_before,
                                                                       strict=True)]
            parts = [procs.result(key, timeout=plan.seconds + plan.drain + 60)
                     for key, _ready, _go in queues]
    finally:
        for daphne in daphnes:
            daphne.stop()
    latencies = [x for part in parts for x in part["latencies"]]
    unique = sum(part["unique"] for part in parts)
    expected = plan.expected_deliveries()
    last = max(part["last"] for part in parts)
    return {
        "layer": layer, "connected": connected,
        "sent": sum(part["sent"] for part in parts), "expected": expected,
        "delivered": unique, "lost": expected - unique,
        "duplicated": sum(part["duplicated"] for part in parts),
        "delivered_per_s": unique / (last - start) if last > start else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "send_lag_max_ms": max(part["send_lag_max"] for part in parts) * 1000,
        "daphne_rss_mb": [round(x, 1) for x in peak],  # Daphne 1 / Daphne 2
        "daphne_cpu_s": [round(x, 2) for x in cpu],
    }


@contextlib.contextmanager
def layer_envs(layers: list[str], amqp_port: int, management_port: int, redis_port: int
               ) -> Iterator[dict[str, dict[str, str]]]:
    """The chat project's environment per layer, with private brokers running for them."""
    with contextlib.ExitStack() as stack:
        envs = {}
        for layer in layers:
            node = stack.enter_context(rabbitmq_node(amqp_port, management_port)) \
                if layer == "amqp" else None
            env = project_env(node.url if node else "amqp://unused", "load" + secrets.token_hex(3))
            if layer == "redis":
                (host, port), _pid = stack.enter_context(redis_server(redis_port))
                env.update(CHAT_LAYER="redis", REDIS_URL=f"redis://{host}:{port}/0")
            envs[layer] = env
        yield envs


ROWS = (
    ("clients connected", "connected", "{:,}"),
    ("room messages said (offered load)", "sent", "{:,}"),
    ("deliveries expected", "expected", "{:,}"),
    ("deliveries received", "delivered", "{:,}"),
    ("deliveries lost", "lost", "{:,}"),
    ("deliveries duplicated", "duplicated", "{:,}"),
    ("delivered messages/s", "delivered_per_s", "{:,.0f}"),
    ("latency p50 (ms)", "p50_ms", "{:.1f}"),
    ("latency p99 (ms)", "p99_ms", "{:.1f}"),
    ("RSS per Daphne, peak (MB)", "daphne_rss_mb", "{:.0f}"),
    ("CPU per Daphne during the run (s)", "daphne_cpu_s", "{:.1f}"),
    ("worst send lag of a client (ms)", "send_lag_max_ms", "{:.0f}"),
)


def table(results: list[Result]) -> str:
    lines = ["| | " + " | ".join(r["layer"] for r in results) + " |",
             "|---|" + "---:|" * len(results)]
    for label, key, fmt in ROWS:
        cells = [" / ".join(fmt.format(x) for x in r[key]) if isinstance(r[key], list)
                 else fmt.format(r[key]) for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--layers", default="amqp,redis", help="comma-separated: amqp,redis")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=50.0,
                        help="room messages per second, all rooms together (offered load)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--amqp-port", type=int, default=5692)
    parser.add_argument("--management-port", type=int, default=15692)
    parser.add_argument("--redis-port", type=int, default=6392)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    layers = [name for name in args.layers.split(",") if name]
    if not set(layers) <= set(LAYERS) or args.clients < 2 * args.rooms:
        parser.error(f"--layers from {LAYERS}; --clients at least 2 x --rooms (both Daphnes)")
    plan = Plan(args.clients, args.rooms, args.seconds, args.rate, args.client_processes)
    raise_fd_limit()
    results = []
    logs = tempfile.mkdtemp(prefix="amqpch-load-")  # the Daphnes' logs, kept for a look
    print(f"[load] Daphne logs in {logs}", file=sys.stderr, flush=True)
    with layer_envs(layers, args.amqp_port, args.management_port, args.redis_port) as envs:
        for layer in layers:
            print(f"[load] {layer}: {plan.clients} clients, {plan.rooms} rooms, "
                  f"{plan.rate:g} msg/s for {plan.seconds:g} s", file=sys.stderr, flush=True)
            results.append(measure(layer, plan, envs[layer], Path(logs)))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"plan": asdict(plan), "results": results}, indent=1))
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
