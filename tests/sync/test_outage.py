"""The sync publisher across broker restarts: reconnect within send_timeout, or fail in it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from amqp_channels import AMQPChannelLayer, BrokerUnavailable, MessageTooLarge
from tests.helpers import receive
from tests.sync.conftest import PublisherFactory

pytestmark = pytest.mark.slow


def next_message(url: str, prefix: str, channel: str) -> dict[str, Any]:
    """What a layer receives next on normal channel ``channel``."""

    async def run() -> dict[str, Any]:
        layer = AMQPChannelLayer(hosts=[url], prefix=prefix)
        try:
            return await receive(layer, channel)
        finally:
            await layer.close()

    return asyncio.run(run())


def test_send_after_a_broker_restart_reconnects(
        own_rabbitmq, prefix: str, make_own_publisher: PublisherFactory) -> None:
    """The pooled connection died with the restart; the next call notices before publishing,
    reconnects and succeeds."""
    publisher = make_own_publisher(send_timeout=5)
    publisher.send("restart", {"type": "before"})
    own_rabbitmq.stop_app()
    own_rabbitmq.start_app()
    publisher.send("restart", {"type": "after"})
    publisher.group_send("restart", {"type": "after"})
    # The durable queue survived the restart; the transient "before" did not.
    assert next_message(own_rabbitmq.url, prefix, "restart") == {"type": "after"}


def test_send_while_the_broker_blocks_publishers(
        own_rabbitmq, prefix: str, make_own_publisher: PublisherFactory) -> None:
    """A broker short of memory blocks publishing connections: each call gives up after
    about send_timeout and says why, and calls go through again once the alarm clears."""
    publisher = make_own_publisher(send_timeout=1.0)
    publisher.send("alarm", {"type": "warm"})
    assert next_message(own_rabbitmq.url, prefix, "alarm") == {"type": "warm"}
    with own_rabbitmq.memory_alarm():
        for call in (publisher.send, publisher.group_send):
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable, match="blocking publishers"):
                call("alarm", {"type": "blocked"})
            assert time.monotonic() - started < 2.0
    publisher.send("alarm", {"type": "after"})
    received = next_message(own_rabbitmq.url, prefix, "alarm")
    # The refused send may still have reached the broker (at most once), before "after".
    assert received in ({"type": "blocked"}, {"type": "after"})


def test_message_over_the_brokers_size_limit_is_message_too_large(
        own_rabbitmq, prefix: str, make_own_publisher: PublisherFactory) -> None:
    """A message within the layer's max_message_size but over the broker's own limit:
    MessageTooLarge, and the next call works."""
    with own_rabbitmq.max_message_size(1024 * 1024):
        publisher = make_own_publisher()
        with pytest.raises(MessageTooLarge, match="max size"):
            publisher.send("limited", {"type": "big", "data": "x" * 1_500_000})
        publisher.send("limited", {"type": "after"})
    assert next_message(own_rabbitmq.url, prefix, "limited") == {"type": "after"}


def test_send_while_the_broker_comes_back_waits_inside_send_timeout(
        own_rabbitmq, prefix: str, make_own_publisher: PublisherFactory) -> None:
    """A call made while the broker is down retries connecting and succeeds once it is
    back, because that happens within send_timeout."""
    publisher = make_own_publisher(send_timeout=25)
    publisher.send("comeback", {"type": "before"})
    own_rabbitmq.stop_app()
    starter = threading.Thread(target=own_rabbitmq.start_app)
    starter.start()
    try:
        publisher.send("comeback", {"type": "during"})
    finally:
        starter.join(60)
    assert next_message(own_rabbitmq.url, prefix, "comeback") == {"type": "during"}


@pytest.mark.parametrize("verb", ["send", "group_send"])
def test_call_with_the_broker_down_raises_broker_unavailable_within_send_timeout(
        own_rabbitmq, make_own_publisher: PublisherFactory, verb: str) -> None:
    """With the broker down for good, the call gives up after send_timeout, naming it."""
    publisher = make_own_publisher(send_timeout=1.5)
    getattr(publisher, verb)("down", {"type": "warm"})
    own_rabbitmq.stop_app()
    try:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="send_timeout"):
            getattr(publisher, verb)("down", {"type": "lost"})
        assert time.monotonic() - started < 1.5 + 0.5
    finally:
        own_rabbitmq.start_app()
