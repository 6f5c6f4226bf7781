"""Producer spans around ``send``/``group_send`` and the trace context in AMQP headers.

The W3C trace context (``traceparent``, ``tracestate``; ``baggage`` too when set) is
written into the message headers by the globally configured propagator, so other services
that read AMQP headers with an OpenTelemetry SDK join the same trace. A traced message also
gets an AMQP ``message_id``, which both ends report as ``messaging.message.id``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from . import attributes as attr
from .names import NameTemplates

TRACEPARENT = "traceparent"


class Outgoing:
    """What a traced publish adds to the message: trace headers and a message id."""

    __slots__ = ("headers", "message_id")

    def __init__(self) -> None:
        self.message_id = secrets.token_hex(8)
        self.headers: dict[str, str] = {}
        propagate.inject(self.headers)  # the current span: the producer span

    def delivered_locally(self, destination: str) -> Incoming:
        """The ``Incoming`` of a copy handed over in this process, without the broker."""
        return Incoming(otel_context.get_current(), destination, self.message_id)


class Incoming:
    """The producer's context of a received message, kept until its consumer handles it."""

    __slots__ = ("context", "destination", "message_id")

    def __init__(self, context: otel_context.Context, destination: str,
                 message_id: str | None) -> None:
        self.context = context
        self.destination = destination  # the channel or group name it was sent to
        self.message_id = message_id

    @property
    def span_context(self) -> trace.SpanContext:
        return trace.get_current_span(self.context).get_span_context()


def extract(headers: Mapping[str, Any], destination: str, message_id: str | None) -> Incoming:
    """The trace context in ``headers`` (the caller has seen ``traceparent`` in them)."""
    carrier = {k: v for k, v in headers.items() if isinstance(v, str)}
    return Incoming(propagate.extract(carrier), destination, message_id)


@contextmanager
def producer_span(tracer: trace.Tracer, names: NameTemplates, operation: str, target: str,
                  *, exchange: str, routing_key: str) -> Iterator[Outgoing]:
    """A PRODUCER span named ``"{operation} {template}"``, current while the body runs;
    an exception sets ``error.type`` (its class) and the error status, and goes on."""
    template = names.template(target)
    with tracer.start_as_current_span(
        f"{operation} {template}", kind=trace.SpanKind.PRODUCER,
        attributes={
            attr.SYSTEM_ATTRIBUTE: attr.SYSTEM,
            attr.OPERATION_TYPE: "send",
            attr.OPERATION_NAME: operation,
            attr.DESTINATION: exchange,
            attr.DESTINATION_TEMPLATE: template,
            attr.ROUTING_KEY: routing_key,
            attr.GROUP if operation == "group_send" else attr.CHANNEL: target,
        },
    ) as span:
        outgoing = Outgoing()
        span.set_attribute(attr.MESSAGE_ID, outgoing.message_id)
        try:
            yield outgoing
        except Exception as exc:
            span.set_attribute(attr.ERROR_TYPE, error_type(exc))
            raise


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"
