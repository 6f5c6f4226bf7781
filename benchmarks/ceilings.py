"""The ceilings: bare AMQP clients shaped like a channel layer, so the same roles drive them.

Why they exist: they show what a layer on RabbitMQ could at best reach on this machine with
the same safety on the sending side. One connection per process, publisher confirms awaited
per message, msgpack bodies, one exclusive queue per channel consumed with automatic acks.
No headers, no local demultiplexing, no reconnect logic, no validation.

* ``raw``: plain aio-pika, what most RabbitMQ code in Python starts from;
* ``bare``: our own lean client (``amqp_channels.amqp``) with nothing of the layer on top:
  the protocol's price for one confirmed publish here, which the layer cannot beat.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import msgpack

_CONNECT_TIMEOUT = 15.0


class _Ceiling:
    """Connection, new_channel/receive bookkeeping and close, shared by both clients; each
    adds how it connects, declares and consumes, and sends."""

    def __init__(self, *, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._connection: Any = None
        self._channel: Any = None

    async def _connect(self) -> Any:
        raise NotImplementedError

    async def _open_channel(self) -> Any:
        """The one confirming AMQP channel of this process (both clients spell it alike)."""
        if self._channel is None:
            self._connection = await self._connect()
            self._channel = await self._connection.channel(publisher_confirms=True)
        return self._channel

    def _new_name(self, prefix: str) -> str:
        name = f"{self._prefix}.{prefix}.{secrets.token_hex(6)}"
        self._inboxes[name] = asyncio.Queue()
        return name

    def _arrived(self, queue: str, body: bytes) -> None:
        self._inboxes[queue].put_nowait(msgpack.unpackb(body))

    async def receive(self, channel: str) -> dict[str, Any]:
        """Next message of a channel made by this process's new_channel()."""
        return await self._inboxes[channel].get()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class RawAioPika(_Ceiling):
    """Plain aio-pika."""

    async def _connect(self) -> Any:
        import aio_pika

        return await aio_pika.connect(self._url, timeout=_CONNECT_TIMEOUT)

    async def new_channel(self, prefix: str = "specific") -> str:
        """Declare an exclusive queue named like a channel and start consuming it."""
        channel = await self._open_channel()
        name = self._new_name(prefix)
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        await queue.consume(self._on_message, no_ack=True)
        return name

    async def _on_message(self, message: Any) -> None:
        self._arrived(message.routing_key or "", message.body)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Publish to the queue named ``channel`` and wait for the broker's confirm."""
        import aio_pika

        amqp_channel = await self._open_channel()
        await amqp_channel.default_exchange.publish(
            aio_pika.Message(msgpack.packb(message)), routing_key=channel
        )


class BareClient(_Ceiling):
    """Our own AMQP client with no layer on top."""

    async def _connect(self) -> Any:
        from amqp_channels import amqp

        return await amqp.connect(self._url, timeout=_CONNECT_TIMEOUT)

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await self._open_channel()
        name = self._new_name(prefix)
        await channel.queue_declare(name, exclusive=True)
        await channel.basic_consume(name, self._on_delivery, no_ack=True)
        return name

    def _on_delivery(self, delivered: Any) -> None:
        self._arrived(delivered.routing_key, delivered.body)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        amqp_channel = await self._open_channel()
        await amqp_channel.basic_publish(msgpack.packb(message), routing_key=channel)
