"""``queue_limits``: a channel's length limit and TTL come from a RabbitMQ policy, so they
change on the broker without a redeploy (docs/deployment-contract.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from amqp_channels.errors import ChannelFull
from amqp_channels.layer import AMQPChannelLayer
from tests.conftest import LayerFactory
from tests.helpers import wait_until
from tools.rabbitmq_node import RabbitMQNode


def set_limit_policy(node: RabbitMQNode, prefix: str, max_length: int) -> None:
    """A policy on the prefix's channel queues: ``max_length`` messages, then reject."""
    node.management("PUT", f"/api/policies/%2F/{prefix}-limits", {
        "pattern": f"^{prefix}\\.channel\\.", "apply-to": "queues", "priority": 1,
        "definition": {"max-length": max_length, "overflow": "reject-publish"},
    })


def wait_for_policy(node: RabbitMQNode, queue: str, max_length: int) -> None:
    """Wait (bounded) until the broker applies a policy with ``max_length`` to ``queue``."""
    wait_until(lambda: node.management_get(f"/api/queues/%2F/{queue}").get(
        "effective_policy_definition", {}).get("max-length") == max_length,
        f"policy with max-length {max_length} on {queue}")


async def fill(layer: AMQPChannelLayer, channel: str, attempts: int) -> int:
    """Send until ChannelFull; the number of messages that fit."""
    for sent in range(attempts):
        try:
            await layer.send(channel, {"type": "fill", "n": sent})
        except ChannelFull:
            return sent
    return attempts


@pytest.fixture
def policy_cleanup(rabbitmq: RabbitMQNode, prefix: str) -> Iterator[None]:
    yield
    rabbitmq.management("DELETE", f"/api/policies/%2F/{prefix}-limits")


async def test_policy_mode_declares_no_limit_arguments(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str) -> None:
    """In policy mode a channel queue carries its type and nothing the policy should own."""
    layer = make_layer(queue_limits="policy", queue_type="classic")
    await layer.send("bare", {"type": "x"})
    info = rabbitmq.management_get(f"/api/queues/%2F/{prefix}.channel.bare")
    assert info["arguments"] == {"x-queue-type": "classic"}


async def test_policy_length_limit_raises_channel_full_and_changes_without_redeploy(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str,
        policy_cleanup: None, caplog: pytest.LogCaptureFixture) -> None:
    """The policy's max-length decides when send raises ChannelFull; raising it lets more in,
    and a new process declaring the queue meets no PRECONDITION_FAILED."""
    set_limit_policy(rabbitmq, prefix, 3)
    layer = make_layer(queue_limits="policy")
    await layer.send("limited", {"type": "first"})  # declares the queue
    wait_for_policy(rabbitmq, f"{prefix}.channel.limited", 3)
    assert await fill(layer, "limited", 10) == 2

    set_limit_policy(rabbitmq, prefix, 5)
    wait_for_policy(rabbitmq, f"{prefix}.channel.limited", 5)
    with caplog.at_level(logging.WARNING, logger="amqp_channels"):
        redeployed = make_layer(queue_limits="policy")
        assert await fill(redeployed, "limited", 10) == 2
    assert not [r for r in caplog.records if "other arguments" in r.getMessage()]


async def test_lower_of_policy_and_argument_wins(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, prefix: str,
        policy_cleanup: None) -> None:
    """With queue arguments (the default mode), a policy with a lower max-length still caps
    the channel: RabbitMQ applies the lower of the two (docs/decisions.md)."""
    set_limit_policy(rabbitmq, prefix, 2)
    layer = make_layer(capacity=50)
    await layer.send("both", {"type": "first"})
    wait_for_policy(rabbitmq, f"{prefix}.channel.both", 2)
    assert await fill(layer, "both", 10) == 1
    info = rabbitmq.management_get(f"/api/queues/%2F/{prefix}.channel.both")
    assert info["arguments"]["x-max-length"] == 50
