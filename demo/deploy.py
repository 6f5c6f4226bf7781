"""The chat project of ``integration/`` running as a deploy runs it: two Daphnes and a worker.

Why it exists: the demo should show the layer where it is used, between separate server
processes, so it reuses the integration tests' process wrappers (``Daphne``, ``Service``:
log files, bounded readiness waits, SIGTERM then SIGKILL) rather than a copy of them. This
module only decides what to start and guarantees that all of it is stopped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amqp_channels.layer.naming import channel_queue
from demo import signals
from integration.tests.processes import Daphne, Service, project_env, traced_env

TASK_CHANNEL = "chat-tasks"
PREFIX = "chat"  # the node is private: no other application shares its names


@dataclass
class Site:
    """The running processes of the chat project."""

    daphnes: list[Daphne] = field(default_factory=list)
    worker: Service | None = None

    @property
    def services(self) -> list[Service]:
        return [*self.daphnes, *([self.worker] if self.worker else [])]

    def dead(self) -> list[str]:
        """Names of the processes that are no longer running."""
        return [service.name for service in self.services if not service.running()]


def worker_consumes(node: Any) -> bool:
    """True once the broker lists a consumer on the task queue: tasks sent now are taken."""
    out = node.ctl("list_queues", "name", "consumers", "--formatter", "json", "-q",
                   check=False).stdout
    queue = channel_queue(PREFIX, TASK_CHANNEL)
    rows = json.loads(out or "[]")
    return any(row.get("name") == queue and row.get("consumers", 0) > 0 for row in rows)


@contextmanager
def running_site(node: Any, log_dir: Path, timeout: float, *,
                 trace: bool = False) -> Iterator[Site]:
    """Start Daphne 1, Daphne 2 (free loopback ports) and ``runworker chat-tasks`` on
    ``node``; yield them once they serve; stop every one of them on the way out. With
    ``trace`` each process exports its spans to ``log_dir/NAME.spans.jsonl``."""
    base = project_env(node.url, PREFIX)

    def env(name: str) -> dict[str, str]:
        return traced_env(base, name, log_dir) if trace else base

    site = Site()
    try:
        for name in ("daphne1", "daphne2"):
            daphne = Daphne(name, env(name), log_dir)
            site.daphnes.append(daphne)
            daphne.start()  # returns once / answers
        site.worker = Service(
            "worker", [sys.executable, "manage.py", "runworker", TASK_CHANNEL], env("worker"),
            log_dir
        )
        site.worker.start()
        site.worker.wait_until(lambda: worker_consumes(node), f"consumer on {TASK_CHANNEL}",
                               timeout)
        yield site
    finally:
        with signals.deferred():
            for service in site.services:
                service.stop()
