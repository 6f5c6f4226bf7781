"""The Channels layer backend: ``amqp_channels.layer.AMQPChannelLayer``."""

from .core import AMQPChannelLayer

__all__ = ["AMQPChannelLayer"]
