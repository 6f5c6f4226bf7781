"""The class named in ``CHANNEL_LAYERS``: the core channel layer plus its extensions."""

from __future__ import annotations

from typing import ClassVar

from .groups.extension import GroupsExtension
from .layer.core import CoreChannelLayer


class AMQPChannelLayer(GroupsExtension, CoreChannelLayer):
    """A Channels layer on RabbitMQ (AMQP 0-9-1); see the README for CONFIG keys."""

    extensions: ClassVar[list[str]] = ["groups", "flush"]
