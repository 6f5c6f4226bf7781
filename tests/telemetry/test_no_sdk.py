"""With only the OpenTelemetry API in use, the layer does no tracing or metrics work.

Runs in a subprocess: the global providers must still be the API's defaults there, which
this test process cannot promise once any test set them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, sys
    import aio_pika
    from amqp_channels.layer import AMQPChannelLayer
    from amqp_channels.telemetry.handoff import HANDOFF
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    url, prefix = sys.argv[1:3]

    async def main():
        layer = AMQPChannelLayer(hosts=[url], prefix=prefix)
        HANDOFF.active = True  # as if a traced consumer existed
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "a"})
        await layer.receive(channel)
        await layer.group_add("g", channel)
        await layer.group_send("g", {"type": "b"})
        await layer.receive(channel)
        await layer.send("no-sdk-jobs", {"type": "c"})
        assert layer.telemetry.tracer() is None and layer.telemetry.instruments() is None
        assert len(HANDOFF) == 0, "no context was kept"
        connection = await aio_pika.connect(url)
        async with connection:
            queue = await (await connection.channel()).get_queue(
                f"{prefix}.channel.no-sdk-jobs")
            raw = await queue.get(timeout=5)
            assert "traceparent" not in raw.headers and raw.message_id is None, raw.headers
        # An SDK set up now sees nothing from the work above: no spans, no histogram points.
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(tracer_provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        assert spans.get_finished_spans() == ()
        names = {m.name for r in reader.get_metrics_data().resource_metrics
                 for s in r.scope_metrics for m in s.metrics}
        assert "messaging.client.operation.duration" not in names, names
        assert "amqp_channels.group.fan_out" not in names, names
        # ... and the same layer traces once it has looked again (RECHECK_INTERVAL).
        from amqp_channels.telemetry.providers import RECHECK_INTERVAL
        await asyncio.sleep(RECHECK_INTERVAL)
        await layer.send(channel, {"type": "d"})
        assert len(spans.get_finished_spans()) == 1
        await layer.close()
        print("ok")

    asyncio.run(main())
""")


def test_without_an_sdk_nothing_is_traced_or_measured(rabbitmq, prefix: str) -> None:
    """No span, no trace header, no message id, no histogram point, no handoff entry while
    the global providers are the API's; the layer starts tracing once an SDK is set."""
    result = subprocess.run([sys.executable, "-c", SCRIPT, rabbitmq.url, prefix],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
