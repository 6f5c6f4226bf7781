"""OpenTelemetry tracing and metrics for the channel layer (``opentelemetry-api`` only).

* ``providers.Telemetry``: per layer, decides cheaply whether anything would be recorded;
* ``spans``: PRODUCER spans for ``send``/``group_send``, W3C trace context in AMQP headers;
* ``handoff``: carries a received message's context from ``receive()`` to ``dispatch()``;
* ``consumer.TracedConsumerMixin``: CONSUMER ``process`` spans around a consumer's handlers;
* ``metrics``: counters, histograms and the buffer-depth gauge (meter ``amqp_channels``);
* ``names``: low-cardinality span names for channel and group names.

This package sits below ``amqp_channels.layer``: the layer calls it, it never imports the
layer.
"""

from __future__ import annotations

from .consumer import TracedConsumerMixin
from .names import NameTemplates
from .providers import Telemetry

__all__ = ["NameTemplates", "Telemetry", "TracedConsumerMixin"]
