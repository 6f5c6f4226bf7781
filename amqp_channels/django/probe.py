"""Can the layer work against this broker? One bounded probe per AMQP URL.

Why it exists: the deploy check must tell an operator, in one line, the first thing that
will stop the layer: the host is unreachable, the login is refused, the vhost is off
limits, or the user lacks the configure/write/read permissions the layer needs on names
starting with the prefix. The probe does what the layer does on start, with throwaway
names, and leaves nothing behind (its queue is exclusive and deleted; the ``{prefix}.groups``
router it declares is the one the layer declares anyway).

The probe is plain asyncio so it is testable without Django; ``run_probe`` runs it on a
fresh event loop (in a thread if the caller's thread already runs one).
"""

from __future__ import annotations

import asyncio
import os
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from .. import amqp
from ..amqp.errors import AccessRefused, ChannelClosed, ConnectionClosed
from ..amqp.url import parse_url
from ..layer.naming import ROUTER_TYPE, group_router, inbox_queue, random_token

PROBE_TIMEOUT = 5.0

# What to try once connected: (connection, prefix, timeout); raises what the broker refused.
Exercise = Callable[["amqp.Connection", str, float], Awaitable[None]]


class Failure(Enum):
    """What kind of problem stopped the probe."""

    UNREACHABLE = "unreachable"  # no TCP connection, or no AMQP answer in time
    LOGIN = "login"  # credentials or vhost refused during the handshake
    PERMISSION = "permission"  # logged in, but a declare or bind was refused


@dataclass(frozen=True)
class ProbeFailure:
    """The first problem found at one URL, as one line an operator can act on."""

    kind: Failure
    message: str


async def probe(url: str, prefix: str, *, ssl: ssl_module.SSLContext | None = None,
                timeout: float = PROBE_TIMEOUT, exercise: Exercise | None = None,
                purpose: str = "deploy-check") -> ProbeFailure | None:
    """Connect to ``url`` and do what the layer needs; ``None`` if it all worked.

    ``exercise`` replaces the default declare-bind-delete round (the health check passes a
    lighter one); ``purpose`` ends the connection's name in the management UI. The connect
    and the exercise are each bounded by ``timeout``, the close by 1 s."""
    params = parse_url(url, heartbeat=0)
    where = f"RabbitMQ at {params.address}"
    try:
        connection = await amqp.connect(url, ssl=ssl, timeout=timeout,
                                        name=f"{prefix}.{purpose}", heartbeat=0)
    except TimeoutError:
        return ProbeFailure(Failure.UNREACHABLE, f"{where} did not answer within {timeout}s")
    except ConnectionClosed as exc:
        return _refused(where, params.username, params.vhost, exc)
    try:
        async with asyncio.timeout(timeout):
            await (exercise or _exercise)(connection, prefix, timeout)
    except TimeoutError:
        return ProbeFailure(Failure.UNREACHABLE,
                            f"{where} stopped answering within {timeout}s")
    except AccessRefused as exc:
        return ProbeFailure(Failure.PERMISSION,
                            f"{where}: user {params.username!r} lacks a permission the layer "
                            f"needs on vhost {params.vhost!r}: {exc.reply_text}")
    except ChannelClosed as exc:  # e.g. 406: the router exists with other properties
        return ProbeFailure(Failure.PERMISSION, f"{where} refused a declare the layer needs "
                                                f"on vhost {params.vhost!r}: {exc.reply_text}")
    except ConnectionClosed as exc:
        return ProbeFailure(Failure.UNREACHABLE, f"{where} dropped the connection: "
                                                 f"{exc.reply_text}")
    finally:
        await connection.close(timeout=1.0)
    return None


def _refused(where: str, username: str, vhost: str, exc: ConnectionClosed) -> ProbeFailure:
    """Why ``connect`` failed, in the words an operator searches for."""
    if exc.reply_code == 0:  # local: refused, unresolvable, reset before the handshake
        return ProbeFailure(Failure.UNREACHABLE, f"cannot reach {where}: {_os_reason(exc)}")
    if exc.reply_code == 403:
        return ProbeFailure(Failure.LOGIN, f"{where} refused the login of user {username!r} "
                                           f"(wrong password or unknown user): {exc.reply_text}")
    return ProbeFailure(Failure.LOGIN, f"{where} refused user {username!r} access to vhost "
                                       f"{vhost!r}: {exc.reply_text}")


def _os_reason(exc: ConnectionClosed) -> str:
    """"Connection refused" rather than asyncio's "Connect call failed ('127.0.0.1', 1)"."""
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno is not None and cause.errno > 0:
        return os.strerror(cause.errno)
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror  # socket.gaierror: "Name or service not known"
    return exc.reply_text


async def _exercise(connection: amqp.Connection, prefix: str, timeout: float) -> None:
    """Declare, bind and delete what the layer declares, under throwaway names."""
    channel = await connection.channel(timeout=timeout)
    queue = inbox_queue(prefix, "check" + random_token(8))
    router = group_router(prefix)
    # Same shapes as the layer: a classic exclusive inbox and a transient direct router.
    await channel.queue_declare(queue, exclusive=True, timeout=timeout,
                                arguments={"x-queue-type": "classic"})
    await channel.exchange_declare(router, ROUTER_TYPE, timeout=timeout)
    # A bind needs write on the queue and read on the exchange, as group membership does.
    await channel.queue_bind(queue, router, routing_key=queue, timeout=timeout)
    await channel.queue_delete(queue, timeout=timeout)
    await channel.close(timeout=timeout)


def run_probe(url: str, prefix: str, *, ssl: ssl_module.SSLContext | None = None,
              timeout: float = PROBE_TIMEOUT) -> ProbeFailure | None:
    """``probe`` on a fresh event loop, from synchronous code such as a system check."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(probe(url, prefix, ssl=ssl, timeout=timeout))
    # Called from inside a running loop (an async test, an async shell): use another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, probe(url, prefix, ssl=ssl, timeout=timeout)).result()
