"""The background worker of ``manage.py runworker chat-tasks``.

Each task message reaches exactly one worker process (``chat-tasks`` is a normal channel: a
shared queue with competing consumers). The worker computes and replies to the websocket's
own channel, so the answer goes back to the one tab that asked.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from channels.consumer import AsyncConsumer

log = logging.getLogger(__name__)


class TaskWorker(AsyncConsumer):  # type: ignore[misc]
    """Squares ``n`` and sends ``task.done`` to ``reply_channel``."""

    async def task_compute(self, message: dict[str, Any]) -> None:
        n = int(message["n"])
        await self.channel_layer.send(message["reply_channel"], {
            "type": "task.done", "n": n, "result": n * n, "worker": os.getpid()})
        log.info("task: squared %d for %s", n, message["reply_channel"])
