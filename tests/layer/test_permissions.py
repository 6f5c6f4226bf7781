"""A user the broker refuses gets ``PermissionRefused`` at once, naming what was refused, the
user and the vhost, and the layer keeps working for what it may do. (An outage still waits
out ``send_timeout`` with reconnects: test_reconnect.py.)"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

import pytest

from amqp_channels import PermissionRefused
from amqp_channels.layer import AMQPChannelLayer
from tests.conftest import LayerFactory
from tests.helpers import receive
from tools.rabbitmq_node import RabbitMQNode

SEND_TIMEOUT = 10.0
FAST = 2.0  # "at once": a fraction of SEND_TIMEOUT, though a loaded CI machine is slow


async def refused_quickly(operation: Awaitable[Any]) -> PermissionRefused:
    """The PermissionRefused ``operation`` raises, checked to come well before send_timeout."""
    started = time.monotonic()
    with pytest.raises(PermissionRefused) as refused:
        await operation
    assert time.monotonic() - started < FAST
    return refused.value


def grant(rabbitmq: RabbitMQNode, user: str, configure: str, write: str, read: str) -> None:
    rabbitmq.ctl("set_permissions", "-p", "/", user, configure, write, read)


def as_user(make_layer: LayerFactory, rabbitmq: RabbitMQNode, user: tuple[str, str]
            ) -> AMQPChannelLayer:
    name, password = user
    return make_layer(hosts=[f"amqp://{name}:{password}@127.0.0.1:{rabbitmq.port}/"],
                      send_timeout=SEND_TIMEOUT)


async def test_declare_outside_permissions_is_refused_at_once(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, user: tuple[str, str],
        prefix: str) -> None:
    """A normal channel the user may not declare fails fast for send and receive; permitted
    channels keep working on the same connection (no reconnect)."""
    grant(rabbitmq, user[0], rf"^{prefix}\.(inbox\..+|groups|channel\.allowed)$", ".*", ".*")
    layer = as_user(make_layer, rabbitmq, user)
    await layer.send("allowed", {"type": "before"})
    generation = layer._state().link.generation

    refused = await refused_quickly(layer.send("secret", {"type": "x"}))
    assert f"queue '{prefix}.channel.secret'" in str(refused)
    assert (refused.user, refused.vhost) == (user[0], "/")
    assert f"user {user[0]!r} on vhost '/'" in str(refused)
    await refused_quickly(layer.receive("secret"))

    await layer.send("allowed", {"type": "after"})
    assert [(await receive(layer, "allowed"))["type"] for _ in range(2)] == ["before", "after"]
    assert layer._state().link.generation == generation


async def test_refused_publish_fails_fast_and_the_next_send_gets_a_new_channel(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, user: tuple[str, str],
        prefix: str) -> None:
    """Without write on the default exchange a send is refused at once; once granted, the
    same layer sends again without reconnecting (the broker closed only its channel)."""
    own = rf"^{prefix}\.(inbox\..+|groups|channel\..+)$"
    grant(rabbitmq, user[0], own, own, own)
    layer = as_user(make_layer, rabbitmq, user)
    await layer.new_channel()  # connected: the inbox is declared
    generation = layer._state().link.generation

    refused = await refused_quickly(layer.send("jobs", {"type": "job"}))
    assert "exchange 'amq.default'" in str(refused)

    grant(rabbitmq, user[0], own, ".*", own)
    await layer.send("jobs", {"type": "job"})
    assert (await receive(layer, "jobs"))["type"] == "job"
    assert layer._state().link.generation == generation


@pytest.mark.parametrize("refusal", ["wrong-password", "no-vhost-access"])
async def test_refused_login_or_vhost_fails_fast(
        make_layer: LayerFactory, rabbitmq: RabbitMQNode, user: tuple[str, str],
        refusal: str) -> None:
    """A wrong password (403) or a user without access to the vhost (530) is a clear
    PermissionRefused at the first send, not BrokerUnavailable after send_timeout."""
    name, password = user
    if refusal == "wrong-password":
        grant(rabbitmq, name, ".*", ".*", ".*")
        password = "wrong" + password
    layer = as_user(make_layer, rabbitmq, (name, password))
    refused = await refused_quickly(layer.send("jobs", {"type": "job"}))
    assert refused.user == name
    assert password not in str(refused)
    expected = "ACCESS_REFUSED" if refusal == "wrong-password" else "access to vhost '/' refused"
    assert expected in str(refused)
    await refused_quickly(layer.new_channel())  # every waiter, not just the first
