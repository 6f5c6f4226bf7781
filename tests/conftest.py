"""Fixtures: a private RabbitMQ node per test run and a fresh layer prefix per test."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from amqp_channels.layer import AMQPChannelLayer
from amqp_channels.layer.naming import random_token
from tools.rabbitmq_node import BrokerUnavailable, RabbitMQNode


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                   ) -> dict[str, Callable[[], Any]]:
    """Tests marked ``uvloop`` run twice, on asyncio's loop and on uvloop (what uvicorn
    runs when it is installed); ``AMQP_CHANNELS_TEST_LOOP=uvloop`` runs every async test
    on uvloop alone."""
    if os.environ.get("AMQP_CHANNELS_TEST_LOOP") == "uvloop":
        return {"uvloop": uvloop.new_event_loop}
    if item.get_closest_marker("uvloop") is not None:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}  # one factory: the test id stays as it is


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_node_ports() -> tuple[int, int]:
    """An AMQP port whose distribution port (+20000) is free too, and a management port
    (+1); +2 and +3 are free for the TLS listeners of nodes that want them.

    The search starts at a random place, so two test runs on one machine rarely race for
    the same ports."""
    start = random.randrange(21000, 29000, 7)
    for port in [*range(start, 30000, 7), *range(21000, start, 7)]:
        if _free(port) and _free(port + 20000) and all(_free(port + i) for i in (1, 2, 3)):
            return port, port + 1
    raise RuntimeError("no free port pair for a RabbitMQ node")


def start_node(base: Path, **options: Any) -> RabbitMQNode:
    """Start a private node; on a port clash (another run took it meanwhile) try again."""
    for attempt in range(3):
        port, management_port = free_node_ports()
        if options.get("tls_port") is not None:
            options["tls_port"] = port + 2
        if options.get("management_tls_port") is not None:
            options["management_tls_port"] = port + 3
        node = RabbitMQNode(base / f"try{attempt}", port=port,
                            management_port=management_port, **options)
        try:
            node.start()
            return node
        except BrokerUnavailable:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQNode]:
    """The shared broker of the test run."""
    node = start_node(tmp_path_factory.mktemp("rabbitmq"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def own_rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQNode]:
    """A broker for tests that restart it or cut its connections."""
    node = start_node(tmp_path_factory.mktemp("own-rabbitmq"))
    yield node
    node.stop()


@pytest.fixture
def prefix() -> str:
    return "t" + random_token(8)


@pytest.fixture
def user(rabbitmq: RabbitMQNode) -> Iterator[tuple[str, str]]:
    """A broker user of our own (name, password), deleted afterwards."""
    name, password = "u" + random_token(8), random_token(16)
    rabbitmq.ctl("add_user", name, password)
    yield name, password
    rabbitmq.ctl("delete_user", name, check=False)


T = TypeVar("T")
LayerFactory = Callable[..., AMQPChannelLayer]


def configured(build: Callable[..., T], url: str, prefix: str
               ) -> tuple[Callable[..., T], list[T]]:
    """A factory of ``build(**config)`` defaulting to ``url`` and ``prefix``, and the list of
    what it made (for the fixture to close)."""
    made: list[T] = []

    def factory(**config: Any) -> T:
        config.setdefault("hosts", [url])
        config.setdefault("prefix", prefix)
        made.append(built := build(**config))
        return built

    return factory, made


async def _layers(url: str, prefix: str) -> AsyncIterator[LayerFactory]:
    factory, made = configured(AMQPChannelLayer, url, prefix)
    yield factory
    for layer in made:
        await layer.close()


@pytest.fixture
async def make_layer(rabbitmq: RabbitMQNode, prefix: str) -> AsyncIterator[LayerFactory]:
    """Build layers on the shared broker; they are closed after the test."""
    async for factory in _layers(rabbitmq.url, prefix):
        yield factory


@pytest.fixture
async def make_own_layer(own_rabbitmq: RabbitMQNode, prefix: str
                         ) -> AsyncIterator[LayerFactory]:
    async for factory in _layers(own_rabbitmq.url, prefix):
        yield factory


@pytest.fixture
def layer(make_layer: LayerFactory) -> AMQPChannelLayer:
    return make_layer()


@pytest.fixture(scope="module")
def tls_rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQNode]:
    """A broker that also accepts amqps:// and https (management) on TLS ports, with a
    self-made CA."""
    node = start_node(tmp_path_factory.mktemp("tls-rabbitmq"), tls_port=0,
                      management_tls_port=0)
    yield node
    node.stop()
