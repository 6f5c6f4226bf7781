"""Declaring, deleting and binding queues and exchanges: the synchronous channel RPCs.

Why a separate mixin: these verbs are thin, rarely called wrappers around one RPC each and
have nothing to do with the message hot path in ``channel.py``. Every call is serialized on
its channel and bounded by ``timeout`` (``TimeoutError`` when it runs out). A broker refusal
closes the channel and raises the matching ``ChannelClosed`` subclass.
"""

from __future__ import annotations

from typing import Any

from pamqp import commands

__all__ = ["Arguments", "Topology"]

Arguments = dict[str, Any]


class Topology:
    """Queue and exchange verbs, built on the channel's ``_call``."""

    async def _call(self, method: Any, expect: Any, timeout: float) -> Any:
        raise NotImplementedError

    def _cast(self, method: Any) -> None:
        """Send a ``nowait`` method: no reply; a failure closes the channel, and the next
        awaited call on it raises. Pipelining saves a round trip per step."""
        raise NotImplementedError

    async def _send_unanswered(self, method: Any, expect: Any, timeout: float) -> None:
        """Send a request whose reply is dropped when it comes (methods with no ``nowait``
        flag); like ``_cast``, a failure closes the channel for the next call."""
        raise NotImplementedError

    def queue_bind_nowait(self, queue: str, exchange: str, routing_key: str = "") -> None:
        """``queue_bind`` without waiting for BindOk (see ``_cast``)."""
        self._cast(commands.Queue.Bind(queue=queue, exchange=exchange,
                                       routing_key=routing_key, nowait=True))

    def exchange_declare_nowait(self, exchange: str, exchange_type: str = "direct", *,
                                durable: bool = False, auto_delete: bool = False) -> None:
        """``exchange_declare`` without waiting for DeclareOk (see ``_cast``)."""
        self._cast(commands.Exchange.Declare(exchange=exchange, exchange_type=exchange_type,
                                             durable=durable, auto_delete=auto_delete,
                                             nowait=True))

    async def queue_declare(self, queue: str, *, passive: bool = False, durable: bool = False,
                            exclusive: bool = False, auto_delete: bool = False,
                            arguments: Arguments | None = None, timeout: float = 10.0
                            ) -> tuple[int, int]:
        """Declare ``queue``; return its (message_count, consumer_count)."""
        ok = await self._call(commands.Queue.Declare(
            queue=queue, passive=passive, durable=durable, exclusive=exclusive,
            auto_delete=auto_delete, arguments=arguments,
        ), commands.Queue.DeclareOk, timeout)
        return int(ok.message_count), int(ok.consumer_count)

    async def queue_delete(self, queue: str, *, if_unused: bool = False,
                           if_empty: bool = False, timeout: float = 10.0) -> int:
        """Delete ``queue``; return how many messages it held."""
        ok = await self._call(commands.Queue.Delete(
            queue=queue, if_unused=if_unused, if_empty=if_empty,
        ), commands.Queue.DeleteOk, timeout)
        return int(ok.message_count)

    async def queue_purge(self, queue: str, *, timeout: float = 10.0) -> int:
        """Drop every ready message of ``queue``; return how many were dropped."""
        ok = await self._call(commands.Queue.Purge(queue=queue), commands.Queue.PurgeOk,
                              timeout)
        return int(ok.message_count)

    async def queue_bind(self, queue: str, exchange: str, routing_key: str = "",
                         arguments: Arguments | None = None, *, timeout: float = 10.0) -> None:
        """Route messages from ``exchange`` with ``routing_key`` to ``queue``."""
        await self._call(commands.Queue.Bind(
            queue=queue, exchange=exchange, routing_key=routing_key, arguments=arguments,
        ), commands.Queue.BindOk, timeout)

    async def queue_unbind(self, queue: str, exchange: str, routing_key: str = "",
                           arguments: Arguments | None = None, *, timeout: float = 10.0
                           ) -> None:
        """Remove a binding made by ``queue_bind``."""
        await self._call(commands.Queue.Unbind(
            queue=queue, exchange=exchange, routing_key=routing_key, arguments=arguments,
        ), commands.Queue.UnbindOk, timeout)

    async def queue_unbind_nowait(self, queue: str, exchange: str, routing_key: str = "", *,
                                  timeout: float = 10.0) -> None:
        """``queue_unbind`` without waiting for UnbindOk. AMQP 0-9-1 gives queue.unbind no
        ``nowait`` flag, so the broker still answers and the answer is dropped; ``timeout``
        bounds only the wait for the channel's lock."""
        await self._send_unanswered(commands.Queue.Unbind(
            queue=queue, exchange=exchange, routing_key=routing_key,
        ), commands.Queue.UnbindOk, timeout)

    async def exchange_declare(self, exchange: str, exchange_type: str = "direct", *,
                               passive: bool = False, durable: bool = False,
                               auto_delete: bool = False, internal: bool = False,
                               arguments: Arguments | None = None, timeout: float = 10.0
                               ) -> None:
        """Declare ``exchange`` of ``exchange_type``."""
        await self._call(commands.Exchange.Declare(
            exchange=exchange, exchange_type=exchange_type, passive=passive, durable=durable,
            auto_delete=auto_delete, internal=internal, arguments=arguments,
        ), commands.Exchange.DeclareOk, timeout)

    async def exchange_delete(self, exchange: str, if_unused: bool = False, *,
                              timeout: float = 10.0) -> None:
        """Delete ``exchange``."""
        await self._call(commands.Exchange.Delete(exchange=exchange, if_unused=if_unused),
                         commands.Exchange.DeleteOk, timeout)

    async def exchange_bind(self, destination: str, source: str, routing_key: str = "",
                            arguments: Arguments | None = None, *, timeout: float = 10.0
                            ) -> None:
        """Route messages from exchange ``source`` to exchange ``destination``."""
        await self._call(commands.Exchange.Bind(
            destination=destination, source=source, routing_key=routing_key,
            arguments=arguments,
        ), commands.Exchange.BindOk, timeout)

    async def exchange_unbind(self, destination: str, source: str, routing_key: str = "",
                              arguments: Arguments | None = None, *, timeout: float = 10.0
                              ) -> None:
        """Remove a binding made by ``exchange_bind``."""
        await self._call(commands.Exchange.Unbind(
            destination=destination, source=source, routing_key=routing_key,
            arguments=arguments,
        ), commands.Exchange.UnbindOk, timeout)
