"""Small helpers shared by the broker tests."""

from __future__ import annotations

import asyncio
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
