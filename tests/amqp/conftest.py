"""Fixtures for the AMQP client tests: a connection and a channel on the shared broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from amqp_channels.amqp import Channel, Connection, connect
from tools.rabbitmq_node import RabbitMQNode

Connect = Callable[..., Awaitable[Connection]]


@pytest.fixture
async def open_connection(rabbitmq: RabbitMQNode) -> AsyncIterator[Connect]:
    """Connect to the shared broker; every connection is closed after the test."""
    made: list[Connection] = []

    async def factory(url: str | None = None, **options: object) -> Connection:
        connection = await connect(url or rabbitmq.url, **options)  # type: ignore[arg-type]
        made.append(connection)
        return connection

    yield factory
    for connection in made:
        await connection.close()


@pytest.fixture
async def connection(open_connection: Connect) -> Connection:
    return await open_connection()


@pytest.fixture
async def channel(connection: Connection) -> Channel:
    return await connection.channel()


@pytest.fixture
async def confirm_channel(connection: Connection) -> Channel:
    return await connection.channel(publisher_confirms=True)


@pytest.fixture
async def queue(channel: Channel, prefix: str) -> AsyncIterator[str]:
    """A fresh, empty queue named after the test's prefix; deleted afterwards."""
    name = f"{prefix}.q"
    await channel.queue_declare(name, exclusive=True)
    yield name
    if not channel.is_closed:
        await channel.queue_delete(name)
