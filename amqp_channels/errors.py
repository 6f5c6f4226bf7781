"""The exception vocabulary of amqp-channels.

``ChannelFull`` and ``MessageTooLarge`` come from Channels (re-exported here so users catch
the classes Channels documents); the rest are ours and always chain their cause.
"""

from __future__ import annotations

from channels.exceptions import ChannelFull, MessageTooLarge

__all__ = ["BrokerUnavailable", "ChannelFull", "ForeignChannel", "MessageTooLarge"]


class BrokerUnavailable(ConnectionError):
    """No broker in ``hosts`` could be reached within the time the operation allows."""

    def __init__(self, hosts: tuple[str, ...], reason: str) -> None:
        self.hosts = hosts
        self.reason = reason
        super().__init__(f"RabbitMQ unavailable at {', '.join(hosts)}: {reason}")


class ForeignChannel(ValueError):
    """A process-specific channel handed to ``receive`` was not made by this layer and loop."""
