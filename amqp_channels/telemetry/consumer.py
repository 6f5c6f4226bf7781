"""``TracedConsumerMixin``: a span for every message a Channels consumer handles.

Put it first in the bases of an ``AsyncConsumer``, ``AsyncWebsocketConsumer``,
``SyncConsumer`` (or any consumer built on them)::

    class ChatConsumer(TracedConsumerMixin, AsyncJsonWebsocketConsumer): ...

* A message from the channel layer gets a CONSUMER span ``process {template}``. It is
  *linked* to the producer's span (the conventions' default for messaging: a consumer's
  work is its own trace); with ``trace_parent = True`` on the class it is a *child* of the
  producer's span instead, so a broadcast reads as one trace. Every local recipient of a
  group message gets its own span.
* A protocol event from the client (``websocket.receive``, ``http.request``...) gets a
  SERVER span named by its type, and every event the consumer sends back to the client
  (``websocket.send``...) a span named by its type, inside whatever span is current.
* Handler code runs inside the span, so a ``group_send`` from it is that span's child.

With no SDK configured it does no work beyond one check per message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from opentelemetry import trace

from . import attributes as attr
from .handoff import HANDOFF
from .providers import DEFAULT, Telemetry
from .spans import Incoming

Message = dict[str, Any]
ASGIReceive = Callable[[], Awaitable[Message]]
ASGISend = Callable[[Message], Awaitable[None]]


class TracedConsumerMixin:
    """Spans around a consumer's ``dispatch`` and its ASGI sends (see the module doc)."""

    trace_parent: ClassVar[bool] = False  # child of the producer span instead of a link

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        HANDOFF.active = True  # from now on the layer keeps contexts for dispatch()

    async def __call__(self, scope: Any, receive: ASGIReceive, send: ASGISend) -> None:
        self._client_events: dict[int, Message] = {}
        events = self._client_events

        async def traced_receive() -> Message:
            message = await receive()
            events[id(message)] = message  # a client event, not a layer message
            return message

        async def traced_send(message: Message) -> None:
            tracer = self._telemetry().tracer()
            if tracer is None:
                await send(message)
                return
            with tracer.start_as_current_span(str(message.get("type"))):
                await send(message)

        await super().__call__(scope, traced_receive, traced_send)  # type: ignore[misc]

    async def dispatch(self, message: Message) -> None:
        client_event = self._client_events.pop(id(message), None) is message
        incoming = None if client_event else HANDOFF.pop(message)
        telemetry = self._telemetry()
        tracer = telemetry.tracer()
        if tracer is None:
            await super().dispatch(message)  # type: ignore[misc]
        elif client_event:
            with tracer.start_as_current_span(str(message.get("type")),
                                              kind=trace.SpanKind.SERVER):
                await super().dispatch(message)  # type: ignore[misc]
        else:
            with self._process_span(tracer, telemetry, incoming):
                await super().dispatch(message)  # type: ignore[misc]

    def _process_span(self, tracer: trace.Tracer, telemetry: Telemetry,
                      incoming: Incoming | None) -> Any:
        """The CONSUMER span of one layer message, linked or parented to its producer."""
        own_channel = getattr(self, "channel_name", "")
        template = telemetry.names.template(incoming.destination if incoming else own_channel)
        attributes: dict[str, Any] = {
            attr.SYSTEM_ATTRIBUTE: attr.SYSTEM, attr.OPERATION_TYPE: "process",
            attr.OPERATION_NAME: "process", attr.DESTINATION_TEMPLATE: template,
            attr.CHANNEL: own_channel}
        parent, links = None, None
        if incoming is not None:
            if incoming.message_id:
                attributes[attr.MESSAGE_ID] = incoming.message_id
            if self.trace_parent:
                parent = incoming.context
            else:
                links = [trace.Link(incoming.span_context)]
        return tracer.start_as_current_span(f"process {template}", context=parent,
                                            kind=trace.SpanKind.CONSUMER, links=links,
                                            attributes=attributes)

    def _telemetry(self) -> Telemetry:
        telemetry = getattr(getattr(self, "channel_layer", None), "telemetry", None)
        return telemetry if isinstance(telemetry, Telemetry) else DEFAULT
