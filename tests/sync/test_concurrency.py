"""The sync publisher under threads and os.fork(): no shared channels, no parent sockets."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading

import pytest

from amqp_channels import AMQPChannelLayer
from amqp_channels.sync import SyncPublisher
from tests.conftest import LayerFactory
from tests.helpers import receive
from tests.sync.conftest import PublisherFactory

THREADS, PER_THREAD = 8, 50


async def test_threads_publishing_at_once_deliver_every_message_once(
        make_layer: LayerFactory, make_publisher: PublisherFactory) -> None:
    """8 threads share one publisher; each of their 400 messages arrives exactly once."""
    layer, publisher = make_layer(capacity=1000), make_publisher(capacity=1000)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def sender(thread: int) -> None:
        try:
            start.wait(10)
            for i in range(PER_THREAD):
                publisher.send("many", {"type": "m", "id": f"{thread}-{i}"})
        except BaseException as exc:
            errors.append(exc)

    senders = [threading.Thread(target=sender, args=(t,)) for t in range(THREADS)]
    for thread in senders:
        thread.start()
    got = [(await receive(layer, "many"))["id"] for _ in range(THREADS * PER_THREAD)]
    for thread in senders:
        await asyncio.to_thread(thread.join, 10)
    assert errors == []
    assert sorted(got) == sorted(f"{t}-{i}" for t in range(THREADS) for i in range(PER_THREAD))


def _child_sends(publisher: SyncPublisher) -> None:
    for i in range(3):
        publisher.send("forked", {"type": "m", "from": "child", "i": i})


def _raw_connections(publisher: SyncPublisher) -> list[object]:
    pool = publisher._pool._current()
    return [connection._connection for connection in pool.made]


# Forking a process that has threads is what this test is about (Python 3.12+ warns).
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.slow
def test_publisher_used_before_fork_works_in_the_child_and_the_parent(
        rabbitmq, prefix: str, make_publisher: PublisherFactory) -> None:
    """A child forked after the parent published sends on new connections of its own; the
    parent's connection is untouched and keeps working without a reconnect."""
    publisher = make_publisher()
    publisher.send("forked", {"type": "m", "from": "parent", "i": 0})
    before = _raw_connections(publisher)

    child = multiprocessing.get_context("fork").Process(target=_child_sends, args=(publisher,))
    child.start()
    child.join(20)
    assert child.exitcode == 0
    publisher.send("forked", {"type": "m", "from": "parent", "i": 1})
    assert _raw_connections(publisher) == before  # same live connection, not a new one

    async def drain() -> list[tuple[str, int]]:
        layer = AMQPChannelLayer(hosts=[rabbitmq.url], prefix=prefix)
        try:
            return [(m["from"], m["i"]) for m in
                    [await receive(layer, "forked") for _ in range(5)]]
        finally:
            await layer.close()

    got = asyncio.run(drain())
    assert sorted(got) == [("child", 0), ("child", 1), ("child", 2),
                           ("parent", 0), ("parent", 1)]
