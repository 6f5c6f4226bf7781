"""The AMQP connection handshake: protocol header, Start/StartOk, Tune/TuneOk, Open/OpenOk.

Why separate: it runs once per connection and is all negotiation rules (which limits win,
how heartbeats are agreed), easiest to read in one place. A refusal by the broker (bad
credentials, unknown vhost) arrives as Connection.Close and surfaces as ``ConnectionClosed``
with the broker's code and text, because we announce ``authentication_failure_close``.
"""

from __future__ import annotations

import platform
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pamqp import commands
from pamqp.header import ProtocolHeader

from .errors import ConnectionClosed
from .frames import encode_method
from .url import ConnectionParams

__all__ = ["Tuning", "handshake"]

FRAME_MAX = 131072  # RabbitMQ's default; bodies above frame_max - 8 are split
CHANNEL_MAX = 2047  # RabbitMQ's default

Request = Callable[[bytes, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Tuning:
    """Limits agreed with the broker."""

    channel_max: int
    frame_max: int
    heartbeat: int


def client_properties(name: str) -> dict[str, Any]:
    """What we tell the broker about ourselves (shown in the management UI)."""
    return {
        "product": "amqp-channels",
        "platform": f"Python {platform.python_version()}",
        "connection_name": name,
        "capabilities": {
            "publisher_confirms": True,
            "consumer_cancel_notify": True,
            "basic.nack": True,
            "connection.blocked": True,
            "authentication_failure_close": True,
        },
    }


def _agree(ours: int, theirs: int) -> int:
    """The smaller limit, where 0 means "no limit"."""
    if not ours or not theirs:
        return ours or theirs
    return min(ours, theirs)


def negotiate(tune: commands.Connection.Tune, heartbeat: int) -> Tuning:
    """Our limits against the broker's; a heartbeat of 0 on our side disables heartbeats."""
    return Tuning(
        channel_max=_agree(CHANNEL_MAX, int(tune.channel_max or 0)),
        frame_max=_agree(FRAME_MAX, int(tune.frame_max or 0)),
        heartbeat=_agree(heartbeat, int(tune.heartbeat or 0)) if heartbeat else 0,
    )


async def handshake(request: Request, write: Callable[[bytes], None],
                    params: ConnectionParams, name: str) -> Tuning:
    """Run the handshake over ``request`` (send and await a reply) and ``write``."""
    start = await request(ProtocolHeader().marshal(), commands.Connection.Start)
    mechanisms = str(start.mechanisms).split()
    if "PLAIN" not in mechanisms:
        raise ConnectionClosed(0, f"broker at {params.address} does not offer PLAIN "
                                  f"authentication (offers {', '.join(mechanisms)})")
    start_ok = commands.Connection.StartOk(
        client_properties=client_properties(name), mechanism="PLAIN",
        response=f"\0{params.username}\0{params.password}", locale="en_US",
    )
    tune = await request(encode_method(0, start_ok), commands.Connection.Tune)
    tuning = negotiate(tune, params.heartbeat)
    write(encode_method(0, commands.Connection.TuneOk(
        channel_max=tuning.channel_max, frame_max=tuning.frame_max,
        heartbeat=tuning.heartbeat)))
    await request(encode_method(0, commands.Connection.Open(virtual_host=params.vhost)),
                  commands.Connection.OpenOk)
    return tuning
