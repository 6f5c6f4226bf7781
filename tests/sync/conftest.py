"""Fixtures for the sync publisher: publishers on the test brokers, closed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from amqp_channels.sync import SyncPublisher
from tests.conftest import configured
from tools.rabbitmq_node import RabbitMQNode

PublisherFactory = Callable[..., SyncPublisher]


def _publishers(url: str, prefix: str) -> Iterator[PublisherFactory]:
    factory, made = configured(SyncPublisher, url, prefix)
    yield factory
    for publisher in made:
        publisher.close()


@pytest.fixture
def make_publisher(rabbitmq: RabbitMQNode, prefix: str) -> Iterator[PublisherFactory]:
    """Build sync publishers on the shared broker, with the test's prefix."""
    yield from _publishers(rabbitmq.url, prefix)


@pytest.fixture
def make_own_publisher(own_rabbitmq: RabbitMQNode, prefix: str
                       ) -> Iterator[PublisherFactory]:
    """Build sync publishers on the module's own broker (for restart tests)."""
    yield from _publishers(own_rabbitmq.url, prefix)
