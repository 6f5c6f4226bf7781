"""Fixtures: OpenTelemetry SDK providers passed to layers explicitly, and traced consumers.

The global providers can be set only once per process, so these tests never set them:
each test builds its own SDK ``TracerProvider`` (in-memory span exporter) and
``MeterProvider`` (in-memory reader) and gives them to the layers in CONFIG. The test of
"no SDK at all" runs in a subprocess (test_no_sdk.py).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.consumer import AsyncConsumer
from channels.layers import channel_layers
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tests.django.conftest  # noqa: F401  (Django settings, which consumers need)
from amqp_channels.layer import AMQPChannelLayer
from amqp_channels.telemetry import TracedConsumerMixin
from tests.conftest import LayerFactory
from tests.helpers import TIMEOUT


@dataclass
class Otel:
    """One test's SDK providers and what they recorded."""

    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    metrics: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    async def wait_finished(self, name: str, count: int = 1, timeout: float = 5.0
                            ) -> list[ReadableSpan]:
        """The spans called ``name`` once ``count`` of them ended (a span ends after the
        handler inside it has told the test it ran); bounded by ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(spans := self.finished(name)) < count:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        return spans

    def metric_points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        return [point for resource in (data.resource_metrics if data else ())
                for scope in resource.scope_metrics for metric in scope.metrics
                if metric.name == name for point in metric.data.data_points]


@pytest.fixture
def otel() -> Otel:
    return Otel()


@pytest.fixture
def make_traced_layer(make_layer: LayerFactory, otel: Otel) -> LayerFactory:
    """Layers (one per simulated process) reporting to this test's providers."""
    def factory(**config: Any) -> AMQPChannelLayer:
        config.setdefault("tracer_provider", otel.tracer_provider)
        config.setdefault("meter_provider", otel.meter_provider)
        return make_layer(**config)
    return factory


class Recorder(TracedConsumerMixin, AsyncConsumer):  # type: ignore[misc]
    """A consumer that queues every ``test.message`` it handles."""

    handled: asyncio.Queue[dict[str, Any]]

    async def test_message(self, message: dict[str, Any]) -> None:
        self.handled.put_nowait(message)


class ParentedRecorder(Recorder):
    trace_parent = True


_aliases = itertools.count()
RunConsumer = Callable[..., Any]


@pytest.fixture
async def run_consumer() -> AsyncIterator[RunConsumer]:
    """Start a consumer on a layer as Channels would (its own ``new_channel``, receive loop
    and dispatch); returns it once its channel exists. All are stopped after the test."""
    tasks: list[asyncio.Task[None]] = []

    async def start(layer: AMQPChannelLayer, cls: type[Recorder] = Recorder) -> Recorder:
        alias = f"telemetry-{next(_aliases)}"
        channel_layers.set(alias, layer)
        consumer = type(cls.__name__, (cls,), {"channel_layer_alias": alias})()
        consumer.handled = asyncio.Queue()
        client: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def nothing_sent(message: dict[str, Any]) -> None:
            pass

        tasks.append(asyncio.create_task(consumer({"type": "channel"}, client.get,
                                                  nothing_sent)))
        async with asyncio.timeout(TIMEOUT):
            while not getattr(consumer, "channel_name", None):
                await asyncio.sleep(0.01)
        return consumer

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def handled(consumer: Recorder) -> dict[str, Any]:
    return await asyncio.wait_for(consumer.handled.get(), TIMEOUT)
