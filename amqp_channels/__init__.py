"""amqp-channels: a RabbitMQ channel layer for Django Channels."""

from .backend import AMQPChannelLayer
from .errors import BrokerUnavailable, ChannelFull, MessageTooLarge

__all__ = ["AMQPChannelLayer", "BrokerUnavailable", "ChannelFull", "MessageTooLarge"]
__version__ = "0.1.0"
