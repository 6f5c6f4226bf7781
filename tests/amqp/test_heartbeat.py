"""Heartbeats: we send them on a timer and give up on a silent peer after 2 intervals."""

from __future__ import annotations

import asyncio

from amqp_channels.amqp.frames import HEARTBEAT
from amqp_channels.amqp.heartbeat import HeartbeatMonitor
from amqp_channels.amqp.protocol import AMQPProtocol


async def test_silent_peer_is_declared_dead_after_two_intervals() -> None:
    """No incoming bytes for 2 * interval: on_dead fires; heartbeats were sent until then."""
    loop = asyncio.get_running_loop()
    protocol = AMQPProtocol(loop)
    written: list[bytes] = []
    protocol.write = written.append  # type: ignore[method-assign]
    dead = loop.create_future()
    monitor = HeartbeatMonitor(protocol, 0.1, dead.set_result)
    monitor.start()
    silent_for = await asyncio.wait_for(dead, 5)
    assert silent_for >= 0.2
    assert written == [HEARTBEAT] * 3


async def test_incoming_data_keeps_the_connection_alive() -> None:
    loop = asyncio.get_running_loop()
    protocol = AMQPProtocol(loop)
    protocol.write = lambda data: None  # type: ignore[method-assign]
    dead = loop.create_future()
    monitor = HeartbeatMonitor(protocol, 0.04, dead.set_result)
    monitor.start()
    for _ in range(15):
        protocol.rx_seen = True
        await asyncio.sleep(0.02)
    assert not dead.done()
    monitor.stop()
