"""Connecting, logging in and every way a connection ends."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from amqp_channels.amqp import Connection, connect
from amqp_channels.amqp.errors import ConnectionClosed
from tools.rabbitmq_node import RabbitMQNode

from .conftest import Connect


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP server that accepts and never speaks AMQP; the event is set when a client's
    socket is closed."""
    client_gone = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # returns b"" once the client closes its socket
        client_gone.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], client_gone
    server.close()
    await server.wait_closed()


async def test_handshake_opens_a_named_connection(rabbitmq: RabbitMQNode,
                                                  open_connection: Connect) -> None:
    """After connect() the broker lists the connection under the name we gave."""
    connection = await open_connection(name="handshake-test")
    assert not connection.is_closed
    assert "handshake-test" in rabbitmq.connection_names()


async def test_vhost_is_taken_from_the_url(rabbitmq: RabbitMQNode, open_connection: Connect,
                                           prefix: str) -> None:
    """A URL path selects the vhost; an unknown vhost is refused with the broker's reason."""
    rabbitmq.ctl("add_vhost", prefix)
    rabbitmq.ctl("set_permissions", "-p", prefix, "guest", ".*", ".*", ".*")
    try:
        connection = await open_connection(f"{rabbitmq.url}{prefix}")
        channel = await connection.channel()
        await channel.queue_declare("in-vhost", exclusive=True)
        with pytest.raises(ConnectionClosed, match="530"):
            await connect(f"{rabbitmq.url}{prefix}-missing")
    finally:
        rabbitmq.ctl("delete_vhost", prefix)


async def test_bad_password_fails_quickly_with_the_reason(rabbitmq: RabbitMQNode) -> None:
    """A refused login raises ConnectionClosed(403) at once instead of hanging."""
    url = rabbitmq.url.replace("guest:guest", "guest:wrong")
    started = time.monotonic()
    with pytest.raises(ConnectionClosed, match="ACCESS_REFUSED") as caught:
        await connect(url, timeout=10)
    assert caught.value.reply_code == 403
    assert time.monotonic() - started < 5


async def test_closed_port_fails_within_the_timeout() -> None:
    """Nobody listening: connect() fails, naming the address, well within the timeout."""
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(ConnectionClosed, match=f"127.0.0.1:{port}"):
        await connect(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=2)
    assert time.monotonic() - started < 2.5


async def test_silent_server_times_out_and_socket_is_closed(
        silent_server: tuple[int, asyncio.Event]) -> None:
    """A peer that never answers the handshake: TimeoutError after `timeout`, socket closed."""
    port, client_gone = silent_server
    with pytest.raises(TimeoutError):
        await connect(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=0.3)
    await asyncio.wait_for(client_gone.wait(), 5)


async def test_cancel_during_connect_leaves_no_open_socket(
        silent_server: tuple[int, asyncio.Event]) -> None:
    """Cancelling connect() mid-handshake closes the socket (warnings are errors here)."""
    port, client_gone = silent_server
    task = asyncio.create_task(connect(f"amqp://guest:guest@127.0.0.1:{port}/"))
    await asyncio.sleep(0.1)  # let the TCP connection establish and the handshake start
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(client_gone.wait(), 5)


async def test_close_resolves_closed_and_is_idempotent(connection: Connection) -> None:
    """Our own close() resolves `closed` with None; closing again is a no-op."""
    await connection.close()
    await connection.close()
    assert connection.is_closed
    assert connection.closed.result() is None


async def test_broker_close_fails_connection_and_pending_publishes(
        rabbitmq: RabbitMQNode, connection: Connection, prefix: str) -> None:
    """A broker-side close resolves `closed` with ConnectionClosed; publishers fail fast."""
    channel = await connection.channel(publisher_confirms=True)
    await channel.queue_declare(f"{prefix}.q", exclusive=True)
    stop = asyncio.Event()
    errors: list[BaseException] = []

    async def publish_forever() -> None:
        while not stop.is_set():
            try:
                await channel.basic_publish(b"x", routing_key=f"{prefix}.q")
            except ConnectionClosed as exc:
                errors.append(exc)
                return

    publishers = [asyncio.create_task(publish_forever()) for _ in range(20)]
    await asyncio.to_thread(rabbitmq.close_all_connections, "test cut")
    with pytest.raises(ConnectionClosed, match="test cut"):
        await asyncio.wait_for(connection.closed, 10)
    await asyncio.wait_for(asyncio.gather(*publishers), 2)
    assert len(errors) == 20
    with pytest.raises(ConnectionClosed):
        await channel.basic_publish(b"x", routing_key=f"{prefix}.q")
    with pytest.raises(ConnectionClosed):
        await connection.channel()
