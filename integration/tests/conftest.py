"""Fixtures: a private RabbitMQ node per test module and the chat project running on it.

``chat_site`` is two Daphne processes and one ``runworker chat-tasks`` with a prefix of their
own. Module scope keeps the run short (a node boots in ~8 s on two cores); modules that
restart things get their own node and processes, so no test depends on another's damage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import tests.conftest as shared_fixtures
from amqp_channels.layer.naming import channel_queue, random_token
from tools.rabbitmq_node import RabbitMQNode

from .processes import Daphne, Service, project_env

TASK_CHANNEL = "chat-tasks"


@dataclass
class ChatSite:
    """The running project: its broker, prefix, environment and processes."""

    node: RabbitMQNode
    prefix: str
    env: dict[str, str]
    log_dir: Path
    daphnes: list[Daphne] = field(default_factory=list)
    worker: Service | None = None

    def start_daphne(self, name: str, port: int | None = None) -> Daphne:
        daphne = Daphne(name, self.env, self.log_dir, port=port)
        self.daphnes.append(daphne)
        daphne.start()
        return daphne

    def start_worker(self) -> Service:
        self.worker = Service("worker", [sys.executable, "manage.py", "runworker", TASK_CHANNEL],
                              self.env, self.log_dir)
        self.worker.start()
        self.worker.wait_until(self.worker_consumes, f"consumer on {TASK_CHANNEL}")
        return self.worker

    def worker_consumes(self) -> bool:
        """True once the broker lists a consumer on the task queue (no management lag)."""
        out = self.node.ctl("list_queues", "name", "consumers", "--formatter", "json", "-q",
                            check=False).stdout
        queue = channel_queue(self.prefix, TASK_CHANNEL)
        rows = json.loads(out or "[]")
        return any(row.get("name") == queue and row.get("consumers", 0) > 0 for row in rows)

    def stop(self) -> None:
        for service in [*self.daphnes, self.worker]:
            if service is not None:
                service.stop()


# The suite's module-scoped private broker fixture, registered here too.
own_rabbitmq = shared_fixtures.own_rabbitmq


@pytest.fixture(scope="module")
def broker(own_rabbitmq: RabbitMQNode) -> RabbitMQNode:
    """A private node for this module's tests (some of them restart it)."""
    return own_rabbitmq


@pytest.fixture(scope="module")
def chat_site(broker: RabbitMQNode, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[ChatSite]:
    """Daphne 1, Daphne 2 and a worker on ``broker``; all stopped at the end."""
    prefix = "it" + random_token(6)
    site = ChatSite(broker, prefix, project_env(broker.url, prefix),
                    tmp_path_factory.mktemp("logs"))
    try:
        site.start_daphne("daphne1")
        site.start_daphne("daphne2")
        site.start_worker()
        yield site
    finally:
        site.stop()
