"""One AMQP connection per event loop that keeps itself alive.

The link tries ``hosts`` in order (so a client fails over between cluster nodes), and after
any loss reconnects with capped exponential backoff and jitter. After each (re)connect it
runs the owner's ``restore`` callback, which re-declares the inbox under the same name and
re-attaches consumers and bindings: channel names handed out before the outage stay valid.

Waiters never block forever: ``ready()`` takes a deadline and raises ``BrokerUnavailable``
with the last connection error when it passes. A refusal of the user (login, vhost, or a
restore step outside its permissions) is no outage: waiters get ``PermissionRefused`` at
once, while the link keeps retrying in the background in case the permissions are fixed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from .. import amqp
from ..amqp.errors import AccessRefused, AMQPError, ConnectionClosed
from ..amqp.url import ConnectionParams, parse_url
from ..errors import BrokerUnavailable, PermissionRefused
from .config import LayerConfig, _redact

log = logging.getLogger("amqp_channels.link")

RestoreCallback = Callable[[amqp.Connection], Awaitable[None]]
MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
CLOSE_TIMEOUT = 5.0


class Link:
    """Owns the connection and its publisher-confirm channel for one event loop."""

    def __init__(self, config: LayerConfig, restore: RestoreCallback, *, name: str) -> None:
        self._config = config
        self._restore = restore
        self._name = name
        self.connection: amqp.Connection | None = None
        self.publisher: amqp.Channel | None = None
        #: Given every publisher channel the link opens: what to do with a returned message.
        self.on_return: Callable[[amqp.Returned], None] | None = None
        self.generation = 0  # bumps on every successful (re)connect
        self._ready = asyncio.Event()
        self._closing = False
        self._last_error: BaseException | None = None
        self._refusal: PermissionRefused | None = None  # the last attempt's, if refused
        self._attempted = asyncio.Event()  # pulsed when an attempt succeeds or fails
        self._reopening = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"amqp_channels link {self._name}"
            )

    @property
    def closing(self) -> bool:
        """True once ``close()`` was called: no reconnects, no new work."""
        return self._closing

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def ready(self, timeout: float) -> amqp.Channel:
        """The live publisher channel, waiting at most ``timeout`` for a (re)connect."""
        if self._ready.is_set() and self.publisher is not None:
            return self.publisher
        if self._closing:
            raise BrokerUnavailable(self._config.redacted_hosts, "the layer is closed")
        self.start()
        try:
            await asyncio.wait_for(self._until_ready(), timeout)
        except TimeoutError:
            reason = f"not connected within {timeout:g}s"
            if self._last_error is not None:
                reason += f" (last error: {self._last_error!r})"
            raise BrokerUnavailable(self._config.redacted_hosts, reason) from self._last_error
        assert self.publisher is not None  # set together with _ready
        return self.publisher

    async def _until_ready(self) -> None:
        """Wait for a connection; raise at once when the broker refused the user."""
        while not self._ready.is_set():
            if self._refusal is not None:
                refused = self._refusal  # a fresh instance per waiter: its own traceback
                raise PermissionRefused(refused.address, refused.user, refused.vhost,
                                        refused.reason) from refused.__cause__
            await self._attempted.wait()

    def refusal(self, exc: AccessRefused) -> PermissionRefused:
        """A refused declare, bind or publish on the live connection, as the layer's error."""
        connection = self.connection
        params = connection.params if connection is not None else \
            parse_url(self._config.hosts[0], heartbeat=0)
        refused = _refusal(exc, params)
        assert refused is not None
        return refused

    async def reopen_publisher(self, closed: amqp.Channel, timeout: float) -> None:
        """The broker closed the publisher channel (a refused publish) but maybe not the
        connection: open another on it; a dead connection reconnects instead."""
        async with self._reopening:
            connection = self.connection
            if self.publisher is not closed:
                return  # another sender, or a reconnect, replaced it already
            if connection is None or connection.is_closed:
                self.connection_lost(ConnectionError("publisher channel closed"))
                return
            try:
                self.publisher = await self._open_publisher(connection, timeout)
            except (AMQPError, ConnectionError, TimeoutError) as exc:
                self.connection_lost(exc)

    async def _open_publisher(self, connection: amqp.Connection, timeout: float
                              ) -> amqp.Channel:
        publisher = await connection.channel(publisher_confirms=True, timeout=timeout)
        publisher.on_return = self.on_return
        return publisher

    async def open_channel(self, **kwargs: Any) -> amqp.Channel:
        """A new AMQP channel on the live connection (for consumers and risky declares).

        Works while ``restore`` runs (the connection is up, the link not yet ready)."""
        connection = self.connection
        if connection is None or connection.is_closed:
            await self.ready(self._config.connect_timeout)
            connection = self.connection
            assert connection is not None
        return await connection.channel(timeout=self._config.connect_timeout, **kwargs)

    def connection_lost(self, exc: BaseException) -> None:
        """Called by users of the link when an operation proved the connection dead, or
        when it must be made anew (``exc`` says why, in the log and in errors)."""
        self._ready.clear()
        self._last_error = exc
        connection = self.connection
        if connection is not None and not connection.is_closed:
            asyncio.get_running_loop().create_task(self._close_quietly(connection))

    async def close(self) -> None:
        """Close the connection and stop reconnecting; bounded by CLOSE_TIMEOUT."""
        self._closing = True
        self._ready.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await asyncio.wait_for(task, CLOSE_TIMEOUT)
            except (asyncio.CancelledError, TimeoutError):
                pass
        if self.connection is not None:
            await self._close_quietly(self.connection)

    async def _supervise(self) -> None:
        backoff = MIN_BACKOFF
        try:
            while not self._closing:
                try:
                    await self._connect_and_restore()
                    backoff = MIN_BACKOFF
                    assert self.connection is not None
                    await self._wait_closed(self.connection)
                    log.warning("connection to RabbitMQ lost (%s); reconnecting",
                                self._last_error or "closed")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._last_error = exc
                    self._refusal = exc if isinstance(exc, PermissionRefused) else None
                    self._pulse()
                    log.warning("RabbitMQ connection attempt failed: %r; retry in %.1fs",
                                exc, backoff)
                finally:
                    self._ready.clear()
                if self._closing:
                    break
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            # Runs when the loop shuts down (asyncio.run cancels us) or on close():
            # close the socket so nothing leaks past the loop.
            self._ready.clear()
            if self.connection is not None and not self.connection.is_closed:
                await self._close_quietly(self.connection)

    async def _connect_and_restore(self) -> None:
        connection = await self._connect_any()
        try:
            publisher = await self._open_publisher(connection, self._config.connect_timeout)
            self.connection, self.publisher = connection, publisher
            self.generation += 1
            await self._restore(connection)
        except BaseException as exc:
            await self._close_quietly(connection)
            refused = _refusal(exc, connection.params)
            if refused is not None:
                raise refused from exc
            raise
        self._last_error = self._refusal = None
        self._ready.set()
        self._pulse()

    def _pulse(self) -> None:
        """Wake the waiters of ``_until_ready`` to look at the outcome of an attempt."""
        self._attempted.set()
        self._attempted.clear()

    async def _connect_any(self) -> amqp.Connection:
        errors = []
        refused: PermissionRefused | None = None
        for url in self._config.hosts:
            try:
                return await amqp.connect(url, ssl=self._config.ssl,
                                          name=f"amqp-channels {self._name}",
                                          timeout=self._config.connect_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, unreachable, bad login: try the next host
                errors.append(f"{_redact(url)}: {exc!r}")
                refused = refused or _refusal(exc, parse_url(url, heartbeat=0))
        if refused is not None:  # one broker answered and refused us: not an outage
            raise refused
        raise ConnectionError("; ".join(errors))

    async def _wait_closed(self, connection: amqp.Connection) -> None:
        try:
            await asyncio.shield(connection.closed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._last_error = exc

    @staticmethod
    async def _close_quietly(connection: amqp.Connection) -> None:
        try:
            await connection.close(timeout=CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception:
            pass


def _refusal(exc: BaseException, params: ConnectionParams) -> PermissionRefused | None:
    """``exc`` as ``PermissionRefused`` when the broker refused the user: a channel's 403,
    a login refused (403 at connect) or vhost access refused (530 "... refused for user")."""
    if isinstance(exc, AccessRefused) or (isinstance(exc, ConnectionClosed) and (
            exc.reply_code == 403 or (exc.reply_code == 530 and "refused" in exc.reply_text))):
        refused = PermissionRefused(params.address, params.username, params.vhost,
                                    exc.reply_text)
        refused.__cause__ = exc
        return refused
    return None
