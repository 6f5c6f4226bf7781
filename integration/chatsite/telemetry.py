"""OpenTelemetry SDK set-up for the chat project, only when the environment asks for it.

Without these variables the project runs on the API alone and the layer records nothing:

* ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: exporter names as the SDK knows
  them (``console``; ``otlp`` once ``opentelemetry-exporter-otlp`` is installed, which then
  reads ``OTEL_EXPORTER_OTLP_ENDPOINT`` and friends). Names resolve through the SDK's
  standard entry points, so any installed exporter works;
* ``OTEL_SERVICE_NAME`` (default ``chatsite``) and ``OTEL_RESOURCE_ATTRIBUTES``;
* ``AMQP_CHANNELS_TRACE_FILE=PATH``: finished spans appended to PATH as JSON lines, written
  as each span ends (the end-to-end tests and the demo read them).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger("chat.telemetry")
TRACE_FILE = "AMQP_CHANNELS_TRACE_FILE"


def configure_from_environment() -> bool:
    """Install SDK providers if any telemetry variable is set; True if it did."""
    traces = [name for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
              if name.strip() and name.strip() != "none"]
    metric_exporters = [name for name in os.environ.get("OTEL_METRICS_EXPORTER", "").split(",")
                        if name.strip() and name.strip() != "none"]
    trace_file = os.environ.get(TRACE_FILE)
    if not (traces or metric_exporters or trace_file):
        return False
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                               "chatsite")}).merge(
        OTELResourceDetector().detect())
    if traces or trace_file:
        provider = TracerProvider(resource=resource)
        for name in traces:
            provider.add_span_processor(BatchSpanProcessor(_exporter("traces", name)))
        if trace_file:
            provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(trace_file)))
        trace.set_tracer_provider(provider)
    if metric_exporters:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers = [PeriodicExportingMetricReader(_exporter("metrics", name))
                   for name in metric_exporters]
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    log.info("OpenTelemetry SDK on: traces %s%s, metrics %s", traces or "-",
             f" + {trace_file}" if trace_file else "", metric_exporters or "-")
    return True


def _exporter(signal: str, name: str) -> Any:
    """The exporter the SDK registers under ``name`` (entry point group of ``signal``)."""
    found = entry_points(group=f"opentelemetry_{signal}_exporter", name=name.strip())
    if not found:
        raise ValueError(f"OTEL_{signal.upper()}_EXPORTER={name!r}: no such exporter installed "
                         f"(for otlp: pip install opentelemetry-exporter-otlp)")
    return next(iter(found)).load()()


class JsonLinesExporter:
    """A span exporter writing one JSON object per finished span to a file (appending)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = "".join(json.dumps(_as_dict(span)) + "\n" for span in spans)
        with self._lock, open(self._path, "a", encoding="utf-8") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _as_dict(span: Any) -> dict[str, Any]:
    context, parent = span.context, span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "links": [{"trace_id": f"{link.context.trace_id:032x}",
                   "span_id": f"{link.context.span_id:016x}"} for link in span.links],
        "service": span.resource.attributes.get("service.name"),
        "pid": os.getpid(),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }
