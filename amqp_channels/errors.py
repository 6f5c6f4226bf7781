"""The exception vocabulary of amqp-channels.

``ChannelFull`` and ``MessageTooLarge`` come from Channels (re-exported here so users catch
the classes Channels documents); the rest are ours and always chain their cause.
"""

from __future__ import annotations

from channels.exceptions import ChannelFull, MessageTooLarge

__all__ = ["BrokerUnavailable", "ChannelFull", "ForeignChannel", "MessageTooLarge",
           "PermissionRefused"]


class BrokerUnavailable(ConnectionError):
    """No broker in ``hosts`` could be reached within the time the operation allows."""

    def __init__(self, hosts: tuple[str, ...], reason: str) -> None:
        self.hosts = hosts
        self.reason = reason
        super().__init__(f"RabbitMQ unavailable at {', '.join(hosts)}: {reason}")


def no_confirm(target: str, send_timeout: float, blocked: str | None) -> str:
    """Why a send got no answer in time: a broker alarm when RabbitMQ said it blocks
    publishers (``blocked`` is its reason), or else silence."""
    if blocked:
        return (f"RabbitMQ is blocking publishers ({blocked}); a send to {target} got no "
                f"answer within send_timeout ({send_timeout:g}s)")
    return (f"no answer from the broker for a send to {target} within send_timeout "
            f"({send_timeout:g}s)")


def over_broker_limit(reply_text: str) -> MessageTooLarge | None:
    """The broker's refusal of a message over its own ``max_message_size`` (a 406 that
    closes the publishing channel, nothing more), as ``MessageTooLarge``; else None."""
    if "max size" not in reply_text:
        return None
    return MessageTooLarge(f"RabbitMQ refused the message: {reply_text} (lower the layer's "
                           "max_message_size to the broker's to be told before sending)")


class PermissionRefused(PermissionError):
    """The broker refused the layer's user: its login, its vhost, or a declare, bind or
    publish on a name outside its permissions (ACCESS_REFUSED). Raised at once rather than
    after ``send_timeout``: retrying cannot help until the credentials or permissions change.
    ``reason`` is the broker's own text, which names the refused resource."""

    def __init__(self, address: str, user: str, vhost: str, reason: str) -> None:
        self.address = address
        self.user = user
        self.vhost = vhost
        self.reason = reason
        super().__init__(f"RabbitMQ at {address} refused user {user!r} on vhost {vhost!r}: "
                         f"{reason}")


class ForeignChannel(ValueError, AssertionError):
    """A process-specific channel handed to ``receive`` was not made by this layer and loop.

    Also an ``AssertionError``: channels_redis and channels_rabbitmq assert on a foreign
    client prefix, so code ported from them that catches that keeps working."""
