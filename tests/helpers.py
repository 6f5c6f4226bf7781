"""Small helpers shared by the broker tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from amqp_channels.layer import AMQPChannelLayer

TIMEOUT = 10.0


async def receive(layer: AMQPChannelLayer, channel: str, timeout: float = TIMEOUT
                  ) -> dict[str, Any]:
    """receive() with a deadline, so a broken layer fails the test instead of hanging it."""
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def receives_nothing(layer: AMQPChannelLayer, channel: str, wait: float = 0.5) -> bool:
    """True if nothing arrives on ``channel`` within ``wait`` seconds."""
    try:
        await asyncio.wait_for(layer.receive(channel), wait)
    except TimeoutError:
        return True
    return False


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` (e.g. a management API reading) until true; fail naming ``what``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.1)


def layer_connections(rabbitmq: Any, prefix: str) -> int:
    """How many AMQP connections of layers with ``prefix`` the broker has open."""
    return sum(1 for name in rabbitmq.connection_names()
               if name.startswith(f"amqp-channels {prefix}."))


async def in_thread(call: Callable[[], object]) -> None:
    """Run a blocking ``call`` in a plain thread (as a Django view would) without blocking
    this loop, and raise what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # re-raised below, in the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.02)
    if errors:
        raise errors[0]


async def reconnected_since(layer: AMQPChannelLayer, generation: int, timeout: float = 20
                            ) -> None:
    """Wait until ``layer`` (on this loop) has connected again since link ``generation``
    and finished restoring its queues and bindings."""
    link = layer._state().link
    async with asyncio.timeout(timeout):
        while link.generation == generation or not link.is_ready:
            await asyncio.sleep(0.05)
