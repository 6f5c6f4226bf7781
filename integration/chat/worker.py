"""The background worker of ``manage.py runworker chat-tasks``.

Each task message reaches exactly one worker process (``chat-tasks`` is a normal channel: a
shared queue with competing consumers). The worker computes and replies to the websocket's
own channel, so the answer goes back to the one tab that asked. A task may ask to take
``delay`` seconds (a slow job: the shutdown tests stop a worker while it is busy).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from channels.consumer import AsyncConsumer

log = logging.getLogger(__name__)

MAX_DELAY = 5.0


class TaskWorker(AsyncConsumer):  # type: ignore[misc]
    """Squares ``n`` and sends ``task.done`` to ``reply_channel``."""

    async def task_compute(self, message: dict[str, Any]) -> None:
        n = int(message["n"])
        delay = min(float(message.get("delay", 0)), MAX_DELAY)
        if delay > 0:
            await asyncio.sleep(delay)
        await self.channel_layer.send(message["reply_channel"], {
            "type": "task.done", "n": n, "result": n * n, "worker": os.getpid()})
        log.info("task: squared %d for %s", n, message["reply_channel"])
