"""One trace across two Daphne processes: the chat line from the websocket frame in on one
Daphne to the frames out on both, exported by each process to its own JSON-lines file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amqp_channels.layer.naming import random_token
from tools.rabbitmq_node import RabbitMQNode

from .client import ChatClient, message
from .processes import Daphne, project_env, spans_file, traced_env

Span = dict[str, Any]


@pytest.fixture(scope="module")
def traced_daphnes(broker: RabbitMQNode, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[list[tuple[Daphne, Path]]]:
    """Two Daphnes of the chat project, each writing its spans to its own file."""
    log_dir = tmp_path_factory.mktemp("traced")
    env = project_env(broker.url, "tr" + random_token(6))
    started = []
    try:
        for name in ("daphne1", "daphne2"):
            daphne = Daphne(name, traced_env(env, name, log_dir), log_dir)
            started.append((daphne, spans_file(log_dir, name)))
            daphne.start()
        yield started
    finally:
        for daphne, _spans in started:
            daphne.stop()


def read_spans(*files: Path) -> list[Span]:
    return [json.loads(line) for path in files if path.exists()
            for line in path.read_text().splitlines()]


async def spans_until(files: list[Path], done: Any, timeout: float = 10.0) -> list[Span]:
    """The spans written so far, once ``done(spans)`` holds (spans end asynchronously)."""
    async with asyncio.timeout(timeout):
        while not done(spans := read_spans(*files)):
            await asyncio.sleep(0.1)
    return spans


async def test_a_broadcast_is_one_trace_across_both_daphnes(
        traced_daphnes: list[tuple[Daphne, Path]]) -> None:
    """websocket.receive on Daphne 1 -> group_send -> a process span and a websocket.send on
    each Daphne, all in one trace, each span the child of the one before."""
    (d1, file1), (d2, file2) = traced_daphnes
    alice = await ChatClient.join(d1.ws_url("traced", "alice"))
    bob = await ChatClient.join(d2.ws_url("traced", "bob"))
    try:
        await alice.say("traced line")
        await alice.expect(message("traced line"))
        await bob.expect(message("traced line"))
    finally:
        await alice.close()
        await bob.close()

    def by_name(spans: list[Span], name: str) -> list[Span]:
        return [s for s in spans if s["name"] == name]

    def complete(spans: list[Span]) -> bool:
        producers = by_name(spans, "group_send room-{room}")
        if len(producers) != 1:
            return False
        trace = [s for s in spans if s["trace_id"] == producers[0]["trace_id"]]
        return len(by_name(trace, "websocket.send")) >= 2
    spans = await spans_until([file1, file2], complete)

    [producer] = by_name(spans, "group_send room-{room}")
    trace = {s["span_id"]: s for s in spans if s["trace_id"] == producer["trace_id"]}
    frame_in = trace[producer["parent_span_id"]]
    assert (frame_in["name"], frame_in["kind"], frame_in["service"]) == \
        ("websocket.receive", "SERVER", "daphne1")
    assert producer["attributes"]["asgi.group"] == "room-traced"
    processes = by_name(list(trace.values()), "process room-{room}")
    assert sorted(p["service"] for p in processes) == ["daphne1", "daphne2"]
    for process in processes:
        assert process["parent_span_id"] == producer["span_id"]
        assert process["attributes"]["messaging.message.id"] == \
            producer["attributes"]["messaging.message.id"]
        [frame_out] = [s for s in trace.values() if s["parent_span_id"] == process["span_id"]]
        assert (frame_out["name"], frame_out["service"]) == ("websocket.send",
                                                             process["service"])
