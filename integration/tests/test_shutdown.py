"""Graceful shutdown, seen from the broker: stopped processes say goodbye and lose nothing.

A Daphne or a worker that gets SIGTERM (or SIGINT) must close its AMQP connection with a
Connection.Close: the node logs that at [info], while a dropped socket is logged as "client
unexpectedly closed TCP connection". A worker stopped while tasks wait for it leaves them
to the other worker: each task is answered exactly once.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest

from amqp_channels.layer import AMQPChannelLayer
from amqp_channels.layer.naming import channel_queue

from .client import ChatClient
from .conftest import TASK_CHANNEL, ChatSite
from .processes import Daphne, Service

pytestmark = pytest.mark.slow

WAIT = 15.0


def poll(what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def new_connection(site: ChatSite, before: set[str]) -> str:
    """The one connection that appeared since ``before`` (the process that just connected)."""
    found: list[str] = []

    def appeared() -> bool:
        found[:] = sorted(set(site.node.connection_names()) - before)
        return bool(found)

    poll("new AMQP connection", appeared)
    assert len(found) == 1, found
    return found[0]


def stop_and_check_clean_close(site: ChatSite, service: Service, name: str,
                               signum: signal.Signals) -> None:
    """Send ``signum``, wait for the exit, then ask the broker how the connection ended."""
    proc = service._proc
    assert proc is not None
    proc.send_signal(signum)
    try:
        proc.wait(WAIT)
    except Exception:
        raise AssertionError(f"{service.name} did not exit:\n{service.log_tail()}") from None
    poll("connection gone", lambda: name not in site.node.connection_names())
    records: list[str] = []

    def logged() -> bool:
        records[:] = site.node.closing_records(name)
        return bool(records)

    poll("closing record in the node log", logged)
    assert len(records) == 1, records
    assert "[info]" in records[0] and "unexpectedly" not in records[0], (
        f"{service.name} dropped its connection:\n{records[0]}\n{service.log_tail()}")
    service.stop()  # reaps and closes the log file


async def test_daphne_sigterm_closes_its_connection(chat_site: ChatSite) -> None:
    """A Daphne serving a websocket gets SIGTERM: its client is disconnected and the broker
    logs a Connection.Close from it, not a dropped socket."""
    before = set(chat_site.node.connection_names())
    daphne = Daphne("daphne-stopped", chat_site.env, chat_site.log_dir)
    await asyncio.to_thread(daphne.start)
    client = await ChatClient.join(daphne.ws_url("bye", "zoe"))  # the layer connects now
    try:
        name = await asyncio.to_thread(new_connection, chat_site, before)
        await asyncio.to_thread(stop_and_check_clean_close, chat_site, daphne, name,
                                signal.SIGTERM)
    finally:
        await client.close()
        daphne.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_signal_closes_its_connection(chat_site: ChatSite, signum: signal.Signals
                                             ) -> None:
    """``runworker`` stops on SIGTERM and on Ctrl-C with exit status 0 and a clean close."""
    before = set(chat_site.node.connection_names())
    worker = Service(f"worker-{signum.name}",
                     [sys.executable, "manage.py", "runworker", TASK_CHANNEL],
                     chat_site.env, chat_site.log_dir)
    worker.start()
    try:
        name = new_connection(chat_site, before)
        proc = worker._proc
        stop_and_check_clean_close(chat_site, worker, name, signum)
        assert proc is not None and proc.returncode == 0, worker.log_tail()
    finally:
        worker.stop()


def queue_counts(site: ChatSite) -> dict[str, int]:
    """Ready and unacknowledged messages and consumers of the task queue (rabbitmqctl: no
    management lag)."""
    out = site.node.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged",
                        "consumers", "--formatter", "json", "-q").stdout
    queue = channel_queue(site.prefix, TASK_CHANNEL)
    for row in json.loads(out or "[]"):
        if row.get("name") == queue:
            return {key: int(row[key]) for key in
                    ("messages_ready", "messages_unacknowledged", "consumers")}
    return {}


async def test_stopped_worker_leaves_waiting_tasks_to_the_other(chat_site: ChatSite) -> None:
    """Worker A holds a dozen slow tasks (one in hand, the rest prefetched, unacknowledged)
    when it gets SIGTERM. It finishes the one in hand and leaves; worker B, which could get
    none while A held them, answers the others. Every task is answered once: none lost,
    none twice."""
    count, delay = 12, 0.8
    first = chat_site.worker
    assert first is not None
    layer = AMQPChannelLayer(hosts=[chat_site.node.url], prefix=chat_site.prefix)
    second: Service | None = None
    answers: list[tuple[int, int]] = []  # (n, worker pid), in order of arrival

    async def collect(reply_to: str) -> None:
        while True:
            done = await layer.receive(reply_to)
            answers.append((done["n"], done["worker"]))

    collector: asyncio.Task[None] | None = None
    try:
        reply_to = await layer.new_channel()
        collector = asyncio.create_task(collect(reply_to))
        for n in range(count):
            await layer.send(TASK_CHANNEL, {"type": "task.compute", "n": n, "delay": delay,
                                            "reply_channel": reply_to})
        second = Service("worker-b", [sys.executable, "manage.py", "runworker", TASK_CHANNEL],
                         chat_site.env, chat_site.log_dir)
        second.start()
        await asyncio.to_thread(poll, "worker B consuming",
                                lambda: queue_counts(chat_site).get("consumers") == 2)
        held = queue_counts(chat_site)
        # A holds every task not yet answered; none is ready for B.
        assert held["messages_ready"] == 0 and held["messages_unacknowledged"] > 2, held

        answered_before = len(answers)
        first._proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        async with asyncio.timeout(WAIT + count * delay):
            while len(answers) < count:
                await asyncio.sleep(0.05)
        await asyncio.sleep(2 * delay + 1)  # anything answered twice shows up by now

        assert Counter(n for n, _pid in answers) == Counter(range(count)), answers
        exit_status = await asyncio.to_thread(first._proc.wait, WAIT)  # type: ignore[union-attr]
        assert exit_status == 0, first.log_tail()
        after = Counter(pid for _n, pid in answers[answered_before:])
        # After the signal A finished the task in hand (and maybe one it took just before
        # the signal was handled); B answered all the others, which A had held.
        assert after[first.pid] <= 2, (answered_before, answers)
        assert after[second.pid] == count - answered_before - after[first.pid], answers
        assert after[second.pid] >= held["messages_unacknowledged"] - 2, (held, answers)
    finally:
        if collector is not None:
            collector.cancel()
        await layer.close()
        first.stop()
        chat_site.worker = second  # stopped with the site
