"""Attribute names and values from the OpenTelemetry messaging semantic conventions."""

from __future__ import annotations

SYSTEM_ATTRIBUTE = "messaging.system"
SYSTEM = "rabbitmq"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
DESTINATION = "messaging.destination.name"  # RabbitMQ: the exchange ("" is the default one)
DESTINATION_TEMPLATE = "messaging.destination.template"
ROUTING_KEY = "messaging.rabbitmq.destination.routing_key"
MESSAGE_ID = "messaging.message.id"
ERROR_TYPE = "error.type"
# Ours: the Channels name behind the exchange and routing key (high cardinality, so never
# in a span name).
CHANNEL = "asgi.channel"
GROUP = "asgi.group"
