"""``Telemetry``: whether a layer traces and measures right now, decided cheaply per call.

With only ``opentelemetry-api`` installed (or an SDK installed but not set up), the global
providers are the API's own proxy/no-op classes. Then ``tracer()`` and ``instruments()``
answer ``None`` after one function call and a type check, and the layer skips all tracing
work: no span, no attribute dict, no header injection, no per-message property encoding.
Asking the API for the global provider costs about 1.5 us (it reads ``os.environ``), so a
"no SDK" answer is reused for ``RECHECK_INTERVAL`` seconds: a provider set up after the
layer was built is picked up within that. Once a real provider is seen it is kept
(OpenTelemetry sets the global providers once per process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import metrics, trace

from .metrics import Counters, Instruments, Source, instruments_for
from .names import NameTemplates
from .spans import TRACEPARENT, Incoming, Outgoing, extract, producer_span

SCOPE = "amqp_channels"
RECHECK_INTERVAL = 1.0  # seconds a "no SDK" answer stands


def is_api_default(provider: object) -> bool:
    """True for the API's proxy and no-op providers: nothing would be recorded."""
    return type(provider).__module__.startswith(("opentelemetry.trace",
                                                  "opentelemetry.metrics"))


class Telemetry:
    """The tracing and metrics switches of one layer or sync publisher."""

    def __init__(self, *, enabled: bool = True, names: NameTemplates | None = None,
                 tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.enabled = enabled
        self.names = names or NameTemplates()
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer: trace.Tracer | None = None
        self._instruments: Instruments | None = None
        self._source: Source | None = None
        self._checked = {"tracer": -RECHECK_INTERVAL, "meter": -RECHECK_INTERVAL}

    def tracer(self) -> trace.Tracer | None:
        """The tracer to use for this call, or ``None``: then do no tracing work at all."""
        tracer = self._tracer
        if tracer is None and self.enabled and self._due("tracer"):
            provider = self._tracer_provider or trace.get_tracer_provider()
            if not is_api_default(provider):
                tracer = self._tracer = provider.get_tracer(SCOPE)
        return tracer

    def producer(self, operation: str, target: str, *, exchange: str, routing_key: str
                 ) -> AbstractContextManager[Outgoing | None]:
        """The PRODUCER span of one ``send``/``group_send`` (see ``spans.producer_span``);
        it yields what to add to the message, or ``None`` when not tracing."""
        tracer = self.tracer()
        if tracer is None:
            return nullcontext()
        return producer_span(tracer, self.names, operation, target, exchange=exchange,
                             routing_key=routing_key)

    def incoming(self, headers: Mapping[str, Any], destination: str,
                 message_id: str | None) -> Incoming | None:
        """The sender's trace context of one received message, or ``None`` when it sent
        none or we do not trace (the cheap header check first: this runs per delivery)."""
        if TRACEPARENT not in headers or self.tracer() is None:
            return None
        return extract(headers, destination, message_id)

    def instruments(self) -> Instruments | None:
        """The synchronous instruments (histograms), or ``None`` when nothing would record."""
        instruments = self._instruments
        if instruments is None and self.enabled and self._due("meter"):
            provider = self._meter_provider or metrics.get_meter_provider()
            if not is_api_default(provider):
                instruments = self._instruments = instruments_for(self._meter_provider)
        return instruments

    def record_confirm_latency(self, seconds: float) -> None:
        """One publish's time to its confirm (a no-op when nothing would record it)."""
        instruments = self.instruments()
        if instruments is not None:
            instruments.confirm_latency.record(seconds)

    def _due(self, which: str) -> bool:
        """False while an earlier look (within RECHECK_INTERVAL) found no SDK provider."""
        now = time.monotonic()
        if now - self._checked[which] < RECHECK_INTERVAL:
            return False
        self._checked[which] = now
        return True

    def watch(self, prefix: str, counters: Counters,
              buffered: Callable[[], int] = lambda: 0) -> None:
        """Report ``counters`` and the local buffer depth through observable instruments
        (a publisher without buffers leaves ``buffered`` out).

        Costs nothing per message: the SDK reads them when it collects. The registration
        lives as long as this object (the layer holds it)."""
        if self.enabled:
            self._source = Source(prefix, counters, buffered)
            instruments_for(self._meter_provider).register(self._source)


DEFAULT = Telemetry()  # for consumers on a layer that is not ours: the global providers
