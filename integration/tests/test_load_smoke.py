"""The load tool of ``benchmarks/load.py`` in miniature, so it cannot rot between runs.

Twenty clients in two rooms for two seconds on two Daphnes: every delivery arrives once
and the report has every number the README's table shows. Speed is not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from amqp_channels.layer.naming import random_token
from benchmarks.load import ROWS, Plan, measure, table
from tools.rabbitmq_node import RabbitMQNode

from .processes import project_env

pytestmark = pytest.mark.slow


def test_load_tool_runs_small_and_loses_nothing(broker: RabbitMQNode, tmp_path: Path) -> None:
    plan = Plan(clients=20, rooms=2, seconds=2, rate=10, client_processes=1, drain=1)
    result = measure("amqp", plan, project_env(broker.url, "ld" + random_token(6)), tmp_path)
    assert result["connected"] == 20
    assert result["sent"] == 20
    assert result["expected"] == 200  # 20 messages, each to the 10 members of its room
    assert (result["delivered"], result["lost"], result["duplicated"]) == (200, 0, 0)
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert all(rss > 0 for rss in result["daphne_rss_mb"])
    assert all(label in table([result]) for label, _key, _fmt in ROWS)
