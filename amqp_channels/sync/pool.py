"""The sync publisher's broker connections: one kombu connection pool per process.

Guarantees:
* a thread leases a connection for one call and returns it afterwards, so no two threads
  ever use the same connection or AMQP channel at the same time;
* the pool belongs to the process that built it. In a forked child the first call sees a
  new pid, drops the parent's pool and builds its own. The parent's sockets are closed in
  the child only (``close()`` of the child's descriptor): a ``shutdown()`` or an AMQP
  ``connection.close`` there would end the parent's connections;
* kombu's own after-fork cleanup is off for the same reason: it runs in multiprocessing
  children and calls ``shutdown()`` on the inherited sockets.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.connection import Connection, ConnectionPool

from ..errors import BrokerUnavailable
from ..layer.config import LayerConfig

POOL_LIMIT = 10  # connections per publisher per process; more threads wait for a free one

_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()


class _ConnectionPool(ConnectionPool):
    """kombu's pool without its after-fork cleanup, remembering every connection it made."""

    close_after_fork = False

    def __init__(self, connection: Connection, limit: int) -> None:
        self.made: list[Any] = []
        super().__init__(connection, limit=limit)  # type: ignore[no-untyped-call]

    def new(self) -> Any:
        connection = super().new()  # type: ignore[no-untyped-call]
        self.made.append(connection)
        return connection


class ProcessPool:
    """The connections of one publisher in the current process, rebuilt after a fork."""

    def __init__(self, config: LayerConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        # (pid, pool) in one attribute, so a reader never pairs a pid with another's pool.
        self._owned: tuple[int, _ConnectionPool] | None = None
        _pools.add(self)

    def _current(self) -> _ConnectionPool:
        owned, pid = self._owned, os.getpid()
        if owned is not None and owned[0] == pid:
            return owned[1]
        with self._lock:
            owned = self._owned
            if owned is not None and owned[0] != pid:
                _abandon(owned[1])
                owned = None
            if owned is None:
                owned = self._owned = (pid, _ConnectionPool(self._template(), POOL_LIMIT))
            return owned[1]

    def _template(self) -> Connection:
        config = self._config
        ssl: Any = config.ssl if config.ssl is not None else config.hosts[0].startswith("amqps")
        return Connection(  # type: ignore[no-untyped-call]
            list(config.hosts), ssl=ssl, connect_timeout=config.connect_timeout, heartbeat=0,
            failover_strategy="round-robin",
        )

    @contextmanager
    def lease(self, deadline: float) -> Iterator[Any]:
        """A kombu connection for this thread alone until the block ends."""
        pool = self._current()
        try:
            connection = pool.acquire(  # type: ignore[no-untyped-call]
                block=True, timeout=max(deadline - time.monotonic(), 0))
        except pool.LimitExceeded as exc:
            raise BrokerUnavailable(
                self._config.redacted_hosts,
                f"all {POOL_LIMIT} connections of this process stayed busy for send_timeout "
                f"({self._config.send_timeout:g}s)",
            ) from exc
        try:
            yield connection
        finally:
            connection.release()

    def close(self) -> None:
        """Close this process's connections; the next call opens new ones."""
        with self._lock:
            owned, self._owned = self._owned, None
        if owned is None:
            return
        if owned[0] != os.getpid():
            _abandon(owned[1])
            return
        for connection in owned[1].made:
            drop(connection)

    def _after_fork_in_child(self) -> None:
        # Another thread of the parent may have held the lock at fork time.
        self._lock = threading.Lock()


def drop(connection: Any) -> None:
    """Forget ``connection``'s socket without talking to the broker; kombu reconnects on the
    next use. For a connection that failed, timed out, or is being closed."""
    connection.collect()


def _abandon(pool: _ConnectionPool) -> None:
    """In a forked child: close our copy of each inherited socket, and nothing more."""
    for connection in pool.made:
        raw = getattr(connection, "_connection", None)
        transport: Any = getattr(raw, "_transport", None)
        sock = getattr(transport, "sock", None)
        if sock is not None:
            sock.close()  # the child's descriptor only; the parent's connection lives on
            transport.sock = None
            transport.connected = False
        connection._connection = None


def _reset_locks_in_child() -> None:
    for pool in list(_pools):
        pool._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_locks_in_child)
