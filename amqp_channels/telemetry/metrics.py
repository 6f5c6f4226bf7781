"""The layer's metrics through the OpenTelemetry metrics API (meter ``amqp_channels``).

Counters the layer already keeps in ``LayerStats`` (sent, received, dropped by reason,
``ChannelFull`` raised, reconnects) are *observable* instruments: the SDK reads them when it
collects, so the hot path does nothing extra, SDK or not. Only the two distributions,
publish-confirm latency and group fan-out size, are recorded as they happen, and only when
a meter provider other than the API's default is in place.

One ``Instruments`` exists per meter provider (the global one, or one passed in CONFIG);
each layer registers its counters with it and leaves when it is garbage collected.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from .attributes import SYSTEM, SYSTEM_ATTRIBUTE

METER = "amqp_channels"
PREFIX_ATTRIBUTE = "amqp_channels.prefix"
REASON_ATTRIBUTE = "amqp_channels.drop.reason"


class Counters(Protocol):
    """What ``LayerStats`` offers: monotonic counters of one layer instance."""

    sent: int
    received: int
    channel_full: int
    reconnects: int
    dropped: Counter[str]


class Source:
    """One layer's counters and its local buffer depth, as the instruments read them."""

    def __init__(self, prefix: str, counters: Counters, buffered: Callable[[], int]) -> None:
        self.prefix = prefix
        self.counters = counters
        self.buffered = buffered


class Instruments:
    """The instruments of one meter provider, reading every registered ``Source``."""

    def __init__(self, meter: Meter) -> None:
        self._sources: weakref.WeakSet[Source] = weakref.WeakSet()
        self.confirm_latency = meter.create_histogram(
            "messaging.client.operation.duration", unit="s",
            description="Time from publish to the broker's confirm (send and group_send)")
        self.fan_out = meter.create_histogram(
            "amqp_channels.group.fan_out", unit="{channel}",
            description="Local members a group message was handed to in this process")
        for name, read, description in (
            ("messaging.client.sent.messages", _sent, "Messages sent (confirmed or local)"),
            ("messaging.client.consumed.messages", _received, "Messages given to receive()"),
            ("amqp_channels.channel_full", _channel_full, "ChannelFull raised by send"),
            ("amqp_channels.reconnects", _reconnects, "Reconnections to the broker"),
        ):
            meter.create_observable_counter(name, [self._callback(read)], unit="{message}"
                                            if "messages" in name else "1",
                                            description=description)
        meter.create_observable_counter(
            "amqp_channels.dropped.messages", [self._dropped], unit="{message}",
            description="Messages dropped, by reason (see docs/decisions.md)")
        meter.create_observable_gauge(
            "amqp_channels.buffer.depth", [self._callback(lambda s: s.buffered())],
            unit="{message}", description="Messages held in local channel buffers")

    def register(self, source: Source) -> None:
        self._sources.add(source)

    def _callback(self, read: Callable[[Source], int]
                  ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterator[Observation]:
            totals: Counter[str] = Counter()
            for source in list(self._sources):
                totals[source.prefix] += read(source)
            for prefix, value in totals.items():
                yield Observation(value, {SYSTEM_ATTRIBUTE: SYSTEM, PREFIX_ATTRIBUTE: prefix})
        return observe

    def _dropped(self, _options: CallbackOptions) -> Iterator[Observation]:
        totals: Counter[tuple[str, str]] = Counter()
        for source in list(self._sources):
            for reason, count in source.counters.dropped.items():
                totals[source.prefix, reason] += count
        for (prefix, reason), value in totals.items():
            yield Observation(value, {SYSTEM_ATTRIBUTE: SYSTEM, PREFIX_ATTRIBUTE: prefix,
                                      REASON_ATTRIBUTE: reason})


def _sent(source: Source) -> int:
    return source.counters.sent


def _received(source: Source) -> int:
    return source.counters.received


def _channel_full(source: Source) -> int:
    return source.counters.channel_full


def _reconnects(source: Source) -> int:
    return source.counters.reconnects


_BY_PROVIDER: weakref.WeakKeyDictionary[Any, Instruments] = weakref.WeakKeyDictionary()
_GLOBAL: list[Instruments] = []


def instruments_for(provider: MeterProvider | None) -> Instruments:
    """The instruments on ``provider``, or on the global provider (now or once set)."""
    if provider is None:
        if not _GLOBAL:
            from opentelemetry.metrics import get_meter

            # Before an SDK is set this is the API's proxy meter: its instruments start
            # reporting once one is, so a layer built early still shows up.
            _GLOBAL.append(Instruments(get_meter(METER)))
        return _GLOBAL[0]
    instruments = _BY_PROVIDER.get(provider)
    if instruments is None:
        instruments = _BY_PROVIDER[provider] = Instruments(provider.get_meter(METER))
    return instruments
