"""amqp-channels: a RabbitMQ channel layer for Django Channels."""

from .backend import AMQPChannelLayer
from .errors import BrokerUnavailable, ChannelFull, MessageTooLarge, PermissionRefused

__all__ = ["AMQPChannelLayer", "BrokerUnavailable", "ChannelFull", "MessageTooLarge",
           "PermissionRefused"]
__version__ = "0.1.0"
