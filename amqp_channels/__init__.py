"""amqp-channels: a RabbitMQ channel layer for Django Channels."""

from .errors import BrokerUnavailable, ChannelFull, MessageTooLarge
from .layer import AMQPChannelLayer

__all__ = ["AMQPChannelLayer", "BrokerUnavailable", "ChannelFull", "MessageTooLarge"]
__version__ = "0.1.0"
