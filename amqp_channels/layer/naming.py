"""How Channels names map onto RabbitMQ names (part of the public wire format).

* normal channel ``NAME``            -> durable queue ``{prefix}.channel.NAME``
* process-specific ``X.TOKEN!suffix`` -> exclusive inbox queue ``{prefix}.inbox.TOKEN``,
  full channel name in the ``asgi-channel`` header
* group ``NAME``                     -> fanout exchange ``{prefix}.group.NAME``, reached
  through the direct exchange ``{prefix}.groups`` with routing key ``NAME`` (with
  ``group_exchanges`` off, member queues are bound to that exchange with key ``NAME``)

Every name keeps the layer prefix and the Channels name readable, so an operator finds them
in the management UI. Channels names are at most 99 ASCII characters, so queue names stay
well inside AMQP's 255-byte limit.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from .config import LayerConfig

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
CHANNEL_HEADER = "asgi-channel"
GROUP_HEADER = "asgi-group"
CONTROL_HEADER = "asgi-control"  # membership changes asked of the process owning a channel
SCHEMA_HEADER = "asgi-schema"
# On a group message whose sender has members of the group: the id the sender waits for.
ECHO_HEADER = "asgi-echo"
SCHEMA_VERSION = 1


def random_token(length: int = 12) -> str:
    """A random lowercase token: an inbox identity or a channel suffix."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(length))


def is_process_specific(channel: str) -> bool:
    return "!" in channel


def inbox_token(channel: str) -> str:
    """The inbox identity inside a process-specific channel name (``x.TOKEN!suffix``)."""
    return channel[: channel.index("!")].rsplit(".", 1)[-1]


def inbox_queue(prefix: str, token: str) -> str:
    return f"{prefix}.inbox.{token}"


def channel_queue(prefix: str, channel: str) -> str:
    return f"{prefix}.channel.{channel}"


def group_exchange(prefix: str, group: str) -> str:
    return f"{prefix}.group.{group}"


#: The type of the groups router. Every process, the sync publisher, the health check and
#: the Django probe declare it, and a declare with another type fails: one value for all.
ROUTER_TYPE = "direct"


def group_router(prefix: str) -> str:
    return f"{prefix}.groups"


def queue_arguments(config: LayerConfig, channel: str) -> dict[str, Any]:
    """The declare arguments of ``channel``'s queue: its type, and its limits unless RabbitMQ
    policies set them (``queue_limits="policy"``; docs/deployment-contract.md)."""
    arguments: dict[str, Any] = {"x-queue-type": config.queue_type}
    if config.queue_limits == "arguments":
        arguments.update({
            "x-max-length": config.capacity_for(channel),
            "x-overflow": "reject-publish",
            "x-message-ttl": int(config.expiry * 1000),
        })
    return arguments
