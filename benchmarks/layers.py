"""The layers compared, and how a benchmark process builds and closes one.

Why a picklable spec and not a layer object: every sender and receiver runs in its own
spawned process, so the parent hands over a small description and the child builds the layer
inside its own running event loop (channels_rabbitmq refuses to be built without one).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from benchmarks.processes import describe

#: Column order of the report; "raw" is plain aio-pika, the ceiling for RabbitMQ.
LAYER_NAMES: tuple[str, ...] = ("amqp", "redis", "rabbitmq", "raw")
LAYER_LABELS: dict[str, str] = {
    "amqp": "amqp",
    "redis": "redis",
    "rabbitmq": "rabbitmq",
    "raw": "raw aio-pika",
}

#: (layer, scenario) pairs that cannot be measured, with the reason shown as "n/a".
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("rabbitmq", "work"): "channels_rabbitmq supports only process-specific channels",
    ("raw", "work"): "the ceiling is measured for the process-specific shape only",
}

#: Large enough that no scenario here is refused with ChannelFull: the benchmarks compare
#: speed, not the layers' different defaults (channels' default capacity is 100).
_CAPACITY = 1_000_000
_CLOSE_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class LayerSpec:
    """Everything a child process needs to build one layer."""

    name: str
    amqp_url: str
    redis_host: tuple[str, int]
    #: Unique per scenario run, so no run sees another's queues, keys or messages.
    prefix: str


def build_layer(spec: LayerSpec) -> Any:
    """Construct the layer named by ``spec``; call it inside a running event loop."""
    if spec.name == "amqp":
        from amqp_channels.layer import AMQPChannelLayer

        return AMQPChannelLayer(hosts=[spec.amqp_url], prefix=spec.prefix, capacity=_CAPACITY)
    if spec.name == "redis":
        from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]

        return RedisChannelLayer(hosts=[spec.redis_host], prefix=spec.prefix, capacity=_CAPACITY)
    if spec.name == "rabbitmq":
        from channels_rabbitmq.core import RabbitmqChannelLayer  # type: ignore[import-untyped]

        return RabbitmqChannelLayer(host=spec.amqp_url, remote_capacity=_CAPACITY)
    if spec.name == "raw":
        from benchmarks.raw_aiopika import RawAioPika

        return RawAioPika(url=spec.amqp_url, prefix=spec.prefix)
    raise ValueError(f"unknown layer {spec.name!r}; expected one of {LAYER_NAMES}")


async def ready_to_receive(spec: LayerSpec, layer: Any) -> None:
    """Make sure messages sent to this process's channels from now on are kept.

    channels_rabbitmq (4.0.1) connects lazily on its first send or group_add: a process that
    only calls new_channel() and receive() never declares its queue, and the broker drops
    messages sent to it as unroutable (checked by hand). So its receivers connect first.
    """
    if spec.name == "rabbitmq":
        # shield: on timeout, wait_for must not cancel the layer's own connection future.
        try:
            await asyncio.wait_for(asyncio.shield(layer.carehare_connection), _CONNECT_TIMEOUT)
        except TimeoutError as exc:
            raise TimeoutError(
                f"channels_rabbitmq not connected within {_CONNECT_TIMEOUT:.0f} s"
            ) from exc


@contextlib.asynccontextmanager
async def open_layer(spec: LayerSpec) -> AsyncIterator[Any]:
    """Build the layer for this process and close it on exit, bounded in time.

    A failing close() is printed to stderr rather than raised, so a measurement already
    taken is not thrown away; it still shows up in the run's output.
    """
    layer = build_layer(spec)
    try:
        yield layer
    finally:
        close = getattr(layer, "close", None) or getattr(layer, "close_pools", None)
        if close is not None:
            try:
                await asyncio.wait_for(close(), _CLOSE_TIMEOUT)
            except Exception as exc:  # reported, not raised: see the docstring
                print(f"[bench] {spec.name}: close() failed: {describe(exc)}", file=sys.stderr)
