"""Two OS processes exchange messages through the layer over the real broker."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import pytest

from amqp_channels import AMQPChannelLayer
from tests.conftest import LayerFactory
from tests.helpers import receive

pytestmark = pytest.mark.slow
N = 300


def _sender(url: str, prefix: str, channel: str, count: int) -> None:
    async def run() -> None:
        layer = AMQPChannelLayer(hosts=[url], prefix=prefix)
        for i in range(count):
            await layer.send(channel, {"type": "from.child", "i": i, "blob": b"\x00" * 10})
        await layer.close()

    asyncio.run(run())


def _worker(url: str, prefix: str, channel: str, results: Any) -> None:
    async def run() -> None:
        layer = AMQPChannelLayer(hosts=[url], prefix=prefix)
        got = []
        try:
            while True:
                message = await asyncio.wait_for(layer.receive(channel), 3)
                got.append(message["i"])
        except TimeoutError:
            pass  # idle: the stream is over
        results.put(got)
        await layer.close()

    asyncio.run(run())


def _spawn(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    return process


async def _join(process: multiprocessing.process.BaseProcess, timeout: float = 60) -> None:
    await asyncio.to_thread(process.join, timeout)
    assert process.exitcode == 0


async def test_child_process_sends_to_our_process_specific_channel(
        rabbitmq, make_layer: LayerFactory, prefix: str) -> None:
    """A sender in another OS process reaches our channel; all messages arrive in order."""
    layer = make_layer()
    channel = await layer.new_channel()
    child = _spawn(_sender, rabbitmq.url, prefix, channel, N)
    got = [(await receive(layer, channel, timeout=30))["i"] for _ in range(N)]
    await _join(child)
    assert got == list(range(N))


async def test_workers_in_two_processes_share_a_normal_channel(
        rabbitmq, make_layer: LayerFactory, prefix: str) -> None:
    """Workers in two processes compete on a normal channel: each message reaches exactly
    one of them, none is lost."""
    results = multiprocessing.get_context("spawn").Queue()
    layer = make_layer()
    await layer.send("proc-jobs", {"type": "job", "i": -1})  # declares the queue first
    workers = [_spawn(_worker, rabbitmq.url, prefix, "proc-jobs", results) for _ in range(2)]
    await asyncio.sleep(1.5)  # let both attach, so both get a share
    for i in range(N):
        await layer.send("proc-jobs", {"type": "job", "i": i})
    shares = [await asyncio.to_thread(results.get, True, 60) for _ in workers]
    for worker in workers:
        await _join(worker)
    together = sorted(shares[0] + shares[1])
    assert together == list(range(-1, N))  # nothing lost, nothing twice
    assert all(shares), "both workers got a share"
