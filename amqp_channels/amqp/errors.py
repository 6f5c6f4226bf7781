"""The exception vocabulary of the AMQP client.

Why it exists: callers (the channel layer) must tell apart "this channel is gone, open another"
from "the whole connection is gone, reconnect", and must recognise the few broker refusals they
handle on purpose (406 on a re-declare with other arguments, 405 on someone else's exclusive
queue). Every error carries the broker's ``reply_code`` and ``reply_text`` (0 and our own
text when the failure is local, such as a lost socket).
"""

from __future__ import annotations

from typing import TypeVar

__all__ = [
    "AMQPError",
    "AccessRefused",
    "ChannelClosed",
    "ConnectionClosed",
    "NotFound",
    "PreconditionFailed",
    "PublishNacked",
    "ResourceLocked",
    "channel_closed",
    "renew",
]


class AMQPError(Exception):
    """Base class of every error raised by this client."""


class ConnectionClosed(AMQPError, ConnectionError):
    """The connection is closed: by the broker, by a lost socket, by missed heartbeats or by us."""

    def __init__(self, reply_code: int, reply_text: str) -> None:
        self.reply_code = reply_code
        self.reply_text = reply_text
        super().__init__(f"AMQP connection closed ({reply_code}): {reply_text}")


class ChannelClosed(AMQPError):
    """The channel is closed; the connection may still be usable."""

    def __init__(self, reply_code: int, reply_text: str) -> None:
        self.reply_code = reply_code
        self.reply_text = reply_text
        super().__init__(f"AMQP channel closed ({reply_code}): {reply_text}")


class AccessRefused(ChannelClosed):
    """403 ACCESS_REFUSED: the user may not use this resource."""


class NotFound(ChannelClosed):
    """404 NOT_FOUND: the queue or exchange does not exist."""


class ResourceLocked(ChannelClosed):
    """405 RESOURCE_LOCKED: an exclusive queue owned by another connection."""


class PreconditionFailed(ChannelClosed):
    """406 PRECONDITION_FAILED: e.g. a re-declare with different arguments."""


class PublishNacked(AMQPError):
    """The broker refused a message on a confirm channel (Basic.Nack)."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        super().__init__(
            f"broker nacked the message published to exchange {exchange!r} "
            f"with routing key {routing_key!r}"
        )


_BY_CODE: dict[int, type[ChannelClosed]] = {
    403: AccessRefused,
    404: NotFound,
    405: ResourceLocked,
    406: PreconditionFailed,
}


def channel_closed(reply_code: int, reply_text: str) -> ChannelClosed:
    """The most specific ChannelClosed subclass for a broker's Channel.Close reply code."""
    return _BY_CODE.get(reply_code, ChannelClosed)(reply_code, reply_text)


_E = TypeVar("_E", bound=AMQPError)


def renew(exc: _E) -> _E:
    """A fresh copy of a closed-error, so each waiter raises its own instance and traceback."""
    fresh = type(exc).__new__(type(exc))
    fresh.__dict__.update(exc.__dict__)
    fresh.args = exc.args
    return fresh
