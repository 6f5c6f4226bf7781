"""A lean asyncio AMQP 0-9-1 client, built for the channel layer's hot path.

Why not aiormq: it spends a task per delivery and routes frames through queues and writer
tasks. Here frames are parsed inline as bytes arrive (``asyncio.BufferedProtocol``),
consumers are plain callbacks called from there, and a publish is one ``transport.write``.
The surface is only what the layer needs: connections, channels, topology, publish with
confirms, consume, ack.

Layout: ``connection`` (connect, ending), ``handshake``, ``heartbeat``, ``protocol`` (frame
splitting, flow control), ``channel`` (publish, consume, lifecycle), ``topology`` (declares
and binds), ``confirms``, ``delivery``, ``rpc`` (reply matching), ``frames`` (wire encoding),
``properties``, ``url``, ``errors``.
"""

from __future__ import annotations

from .channel import Channel
from .connection import Connection, connect
from .delivery import Delivery, Returned
from .properties import Properties

__all__ = ["Channel", "Connection", "Delivery", "Properties", "Returned", "connect"]
