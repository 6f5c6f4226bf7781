"""The layers compared, and how a benchmark process builds and closes one.

Why a picklable spec and not a layer object: every sender and receiver runs in its own
spawned process, so the parent hands over a small description and the child builds the layer
inside its own running event loop (channels_rabbitmq refuses to be built without one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from benchmarks.processes import describe

#: Column order of the report; "raw" (plain aio-pika) and "bare" (our AMQP client alone) are
#: the ceilings for a layer on RabbitMQ (benchmarks/ceilings.py).
#: "amqp-bindings" is ours with ``group_exchanges`` off (member queues bound to the router
#: directly): only the group scenarios differ.
LAYER_NAMES: tuple[str, ...] = ("amqp", "amqp-bindings", "redis", "rabbitmq", "raw", "bare")
LAYER_LABELS: dict[str, str] = {
    "amqp": "amqp",
    "amqp-bindings": "amqp, no group exchanges",
    "redis": "redis",
    "rabbitmq": "rabbitmq",
    "raw": "raw aio-pika",
    "bare": "bare client",
}

#: (layer, scenario) pairs that cannot be measured, with the reason shown as "n/a".
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("rabbitmq", "work"): "channels_rabbitmq supports only process-specific channels",
    **{("amqp-bindings", scenario): "group_exchanges changes only how groups are bound"
       for scenario in ("p2p", "work", "rtt", "sync")},
    ("raw", "work"): "the ceiling is measured for the process-specific shape only",
    ("raw", "fanout"): "plain aio-pika has no groups",
    ("raw", "churn"): "plain aio-pika has no groups",
    ("raw", "sync"): "plain aio-pika has no groups",
    ("bare", "work"): "the ceiling is measured for the process-specific shape only",
    ("bare", "fanout"): "a bare client has no groups",
    ("bare", "churn"): "a bare client has no groups",
    ("bare", "sync"): "a bare client has no groups",
}

#: Large enough that no scenario here is refused with ChannelFull: the benchmarks compare
#: speed, not the layers' different defaults (channels' default capacity is 100). The one
#: exception is "fanout", which asks for the defaults (``LayerSpec.default_capacity``).
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
    #: Keep the layer's own default capacity instead of the large benchmark one, for
    #: scenarios whose point is what a layer does at its defaults (e.g. group fan-out).
    default_capacity: bool = False


def build_layer(spec: LayerSpec) -> Any:
    """Construct the layer named by ``spec``; call it inside a running event loop."""
    capacity = {} if spec.default_capacity else {"capacity": _CAPACITY}
    if spec.name in ("amqp", "amqp-bindings"):
        from amqp_channels.layer import AMQPChannelLayer

        return AMQPChannelLayer(hosts=[spec.amqp_url], prefix=spec.prefix,
                                group_exchanges=spec.name == "amqp", **capacity)
    if spec.name == "redis":
        from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]

        return RedisChannelLayer(hosts=[spec.redis_host], prefix=spec.prefix, **capacity)
    if spec.name == "rabbitmq":
        from channels_rabbitmq.core import RabbitmqChannelLayer  # type: ignore[import-untyped]

        logging.getLogger("channels_rabbitmq.core").addFilter(_rabbitmq_nacks)
        remote = {} if spec.default_capacity else {"remote_capacity": _CAPACITY}
        return RabbitmqChannelLayer(host=spec.amqp_url, **remote)
    if spec.name == "raw":
        from benchmarks.ceilings import RawAioPika

        return RawAioPika(url=spec.amqp_url, prefix=spec.prefix)
    if spec.name == "bare":
        from benchmarks.ceilings import BareClient

        return BareClient(url=spec.amqp_url, prefix=spec.prefix)
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


class _NackedGroupSends(logging.Filter):
    """Counts channels_rabbitmq's one-warning-per-drop and keeps it off stderr.

    channels_rabbitmq 4.0.1 logs "Aborting send to group ..." for every group_send a full
    queue refused (it cannot say which member missed it); at default capacity that is
    hundreds of lines per run. The count is reported with the run instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Aborting send to group"):
            self.counts["group_send nacked"] += 1
            return False
        return True


#: One per process, like the layer it watches.
_rabbitmq_nacks = _NackedGroupSends()


def dropped_counts(layer: Any) -> dict[str, int]:
    """Messages the layer says it dropped, by reason; empty for layers that do not count."""
    # amqp_channels keeps counters (``layer.stats.dropped``); channels_rabbitmq logs a
    # warning per refused group_send (counted above); channels_redis says nothing.
    dropped = getattr(getattr(layer, "stats", None), "dropped", None)
    if dropped:
        return dict(dropped)
    return dict(_rabbitmq_nacks.counts)
