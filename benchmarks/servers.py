"""The brokers one benchmark run talks to: a private RabbitMQ node and a private redis-server.

Why it exists: numbers are only comparable when the brokers serve nothing else, and a run
must leave nothing behind. Both servers bind 127.0.0.1 on ports of their own, are started
here and are stopped here, also after Ctrl-C or an exception (the context manager's exit).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.rabbitmq_node import RabbitMQNode


@dataclass(frozen=True)
class Servers:
    """Where the running brokers listen, and what they are."""

    amqp_url: str
    redis_host: tuple[str, int]
    rabbitmq_version: str
    redis_version: str
    pids: tuple[int, ...] = ()  # the server processes, watched by wait_until_idle()


#: A server counts as idle below this share of one core, measured over IDLE_WINDOW seconds.
IDLE_SHARE, IDLE_WINDOW, IDLE_LIMIT = 0.05, 0.5, 30.0


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pids: tuple[int, ...]) -> float:
    """Wait (at most IDLE_LIMIT seconds) until the servers have finished the work the last
    run left them, such as deleting its queues and their messages; return the wait.

    Why: a run starts right after another layer's, and a broker still cleaning up after that
    one would bill its work to whichever layer happens to come next."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < IDLE_LIMIT:
            before = [cpu_seconds(pid) for pid in pids]
            time.sleep(IDLE_WINDOW)
            used = max(cpu_seconds(pid) - was for pid, was in zip(pids, before, strict=True))
            if used < IDLE_SHARE * IDLE_WINDOW:
                break
    except (OSError, ValueError, IndexError):
        pass  # no /proc (not Linux), or a server is gone: the run will say so
    return time.monotonic() - started


class PortInUse(RuntimeError):
    """A port we want for our own server already has a listener (someone else's)."""


def _require_free(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise PortInUse(f"127.0.0.1:{port} already has a listener; pick other ports")


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_version() -> str:
    out = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, timeout=10
    ).stdout
    for word in out.split():
        if word.startswith("v="):
            return word[2:]
    return out.strip() or "unknown"


@contextlib.contextmanager
def redis_server(port: int, *, timeout: float = 15.0
                 ) -> Iterator[tuple[tuple[str, int], int]]:
    """Run a throwaway redis-server (no persistence) on 127.0.0.1:``port``; yield where it
    listens and its pid."""
    _require_free(port)
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Own session: a Ctrl-C in the terminal must not stop redis before we are done.
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _redis_answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not come up")
            time.sleep(0.05)
        yield ("127.0.0.1", port), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def rabbitmq_node(port: int, management_port: int) -> Iterator[RabbitMQNode]:
    """Run a private RabbitMQ node in a temporary directory, wiped afterwards."""
    for p in (port, management_port, port + 20000):
        _require_free(p)
    node = RabbitMQNode(
        Path(tempfile.mkdtemp(prefix="amqpch-bench-")),
        port=port,
        management_port=management_port,
        node_name=f"bench{port}@localhost",
    )
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(node.base_dir, ignore_errors=True)


def _rabbitmq_version(node: RabbitMQNode) -> str:
    try:
        overview = node.management_get("/api/overview")
        if isinstance(overview, dict):
            return str(overview.get("rabbitmq_version", "unknown"))
    except OSError:
        pass
    result = node.ctl("version", check=False)
    return result.stdout.strip() or "unknown"


@contextlib.contextmanager
def running_servers(*, amqp_port: int, management_port: int, redis_port: int) -> Iterator[Servers]:
    """Start redis and RabbitMQ, yield where they listen, stop both on exit."""
    with redis_server(redis_port) as (redis_host, redis_pid), \
            rabbitmq_node(amqp_port, management_port) as node:
        yield Servers(
            amqp_url=node.url,
            redis_host=redis_host,
            rabbitmq_version=_rabbitmq_version(node),
            redis_version=_redis_version(),
            pids=(int((node.base_dir / "pid").read_text().strip()), redis_pid),
        )
