"""Publishing into the channel layer from code without an event loop.

Django views, signals, management commands and Celery tasks can send with a
``SyncPublisher`` instead of ``async_to_sync(channel_layer.group_send)``, which builds an
event loop in a new thread per call (the layer relays the call to a loop of its own). The
publisher keeps a kombu connection pool per process and writes exactly the wire format the
layer consumes (docs/wire-format.md)::

    from amqp_channels.sync import get_publisher

    get_publisher().group_send("chat", {"type": "chat.message", "text": "hi"})

This package sits on top of ``amqp_channels.layer`` (names, config, codec); nothing in the
layer imports it.
"""

from __future__ import annotations

from .publisher import SyncPublisher
from .registry import get_publisher

__all__ = ["SyncPublisher", "get_publisher"]
