"""The ceiling: plain aio-pika, shaped like a channel layer so the same roles can drive it.

Why it exists: it shows what any layer on RabbitMQ can at best reach on this machine with the
same safety on the sending side. One plain connection per process, publisher confirms
awaited per message, msgpack bodies, one exclusive queue per channel consumed with automatic
acks. No headers, no local demultiplexing, no reconnect logic, no validation.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aio_pika
import msgpack
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

_CONNECT_TIMEOUT = 15.0


class RawAioPika:
    """Just enough of new_channel/send/receive/close to run the benchmark roles."""

    def __init__(self, *, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    async def _open_channel(self) -> AbstractChannel:
        if self._channel is None:
            self._connection = await aio_pika.connect(self._url, timeout=_CONNECT_TIMEOUT)
            self._channel = await self._connection.channel(publisher_confirms=True)
        return self._channel

    async def new_channel(self, prefix: str = "specific") -> str:
        """Declare an exclusive queue named like a channel and start consuming it."""
        channel = await self._open_channel()
        name = f"{self._prefix}.{prefix}.{secrets.token_hex(6)}"
        self._inboxes[name] = asyncio.Queue()
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        await queue.consume(self._on_message, no_ack=True)
        return name

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inboxes[message.routing_key or ""].put_nowait(msgpack.unpackb(message.body))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Publish to the queue named ``channel`` and wait for the broker's confirm."""
        amqp_channel = await self._open_channel()
        await amqp_channel.default_exchange.publish(
            aio_pika.Message(msgpack.packb(message)), routing_key=channel
        )

    async def receive(self, channel: str) -> dict[str, Any]:
        """Next message of a channel made by this process's new_channel()."""
        return await self._inboxes[channel].get()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
