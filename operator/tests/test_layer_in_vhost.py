"""The layer, configured only from the Secret the operator wrote, does its whole job in the
provisioned vhost, takes its limits from the operator's policies, and is refused elsewhere."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from amqp_channels.amqp.errors import AccessRefused
from amqp_channels.errors import ChannelFull, PermissionRefused
from amqp_channels.layer import AMQPChannelLayer
from amqp_channels_operator.connection_secret import StoredSecret
from amqp_channels_operator.management import Management
from amqp_channels_operator.reconcile import reconcile
from amqp_channels_operator.spec import ChannelLayerSpec
from tests.helpers import receive, wait_until

Resource = dict[str, Any]


def provision(resource: Resource, admin: Management,
              stored: StoredSecret | None = None) -> StoredSecret:
    result = reconcile(ChannelLayerSpec.from_resource(resource), admin, stored)
    return StoredSecret.from_manifest(result.secret)


@pytest.fixture
async def layers() -> AsyncIterator[list[AMQPChannelLayer]]:
    made: list[AMQPChannelLayer] = []
    yield made
    for layer in made:
        await layer.close()


def from_secret(secret: StoredSecret, made: list[AMQPChannelLayer], **override: Any
                ) -> AMQPChannelLayer:
    """A layer built the way the application builds it: CHANNEL_LAYERS from the Secret."""
    settings = json.loads(secret.data["AMQP_CHANNELS_LAYERS"])["default"]
    assert settings["BACKEND"] == "amqp_channels.layer.AMQPChannelLayer"
    made.append(layer := AMQPChannelLayer(**{**settings["CONFIG"], **override}))
    return layer


def wait_for_max_length(admin: Management, vhost: str, queue: str, length: int) -> None:
    wait_until(lambda: (admin.get(f"/api/queues/{vhost}/{queue}") or {}).get(
        "effective_policy_definition", {}).get("max-length") == length,
        f"max-length {length} on {queue}")


async def test_layer_works_with_only_the_generated_secret(
        make_resource: Callable[..., Resource], admin: Management,
        layers: list[AMQPChannelLayer]) -> None:
    """Process-specific channels, normal channels and groups all work with the user's
    narrow permissions."""
    secret = provision(make_resource(), admin)
    layer = from_secret(secret, layers)
    other = from_secret(secret, layers)

    specific = await layer.new_channel()
    await other.send(specific, {"type": "direct"})
    assert (await receive(layer, specific))["type"] == "direct"

    await other.send("jobs", {"type": "job"})
    assert (await receive(layer, "jobs"))["type"] == "job"

    await layer.group_add("room", specific)
    await other.group_send("room", {"type": "broadcast"})
    assert (await receive(layer, specific))["type"] == "broadcast"
    await layer.group_discard("room", specific)


async def test_channel_full_follows_the_policy_without_redeploy(
        make_resource: Callable[..., Resource], admin: Management, prefix: str,
        layers: list[AMQPChannelLayer]) -> None:
    """Lowering capacity in the spec changes the running layer's ChannelFull point."""
    resource = make_resource()
    secret = provision(resource, admin)
    layer = from_secret(secret, layers)
    vhost, queue = resource["spec"]["vhost"], f"{prefix}.channel.work"

    sent = 0
    with pytest.raises(ChannelFull):
        for sent in range(10):
            await layer.send("work", {"type": "job", "n": sent})
    assert sent == 5  # the policy's max-length from capacity: 5

    await layer.flush()
    resource["spec"]["channels"]["capacity"] = 2
    provision(resource, admin, secret)
    await layer.send("work", {"type": "job"})
    wait_for_max_length(admin, vhost, queue, 2)
    await layer.send("work", {"type": "job"})
    with pytest.raises(ChannelFull):
        await layer.send("work", {"type": "job"})


async def test_layer_is_refused_outside_its_prefix(
        make_resource: Callable[..., Resource], admin: Management,
        layers: list[AMQPChannelLayer]) -> None:
    """The same credentials with another prefix may not declare anything: the layer's
    inbox is refused, at once and naming the queue, the user and the vhost."""
    resource = make_resource()
    secret = provision(resource, admin)
    intruder = from_secret(secret, layers, prefix="elsewhere", send_timeout=10)
    started = time.monotonic()
    with pytest.raises(PermissionRefused) as refused:
        await intruder.send("jobs", {"type": "job"})
    assert time.monotonic() - started < 2  # not after send_timeout: no outage to wait out
    assert isinstance(refused.value.__cause__, AccessRefused)
    assert "queue 'elsewhere.inbox." in str(refused.value)
    assert (refused.value.user, refused.value.vhost) == (
        resource["metadata"]["name"], resource["spec"]["vhost"])


async def test_expired_normal_channel_messages_are_dead_lettered(
        make_resource: Callable[..., Resource], admin: Management, prefix: str,
        layers: list[AMQPChannelLayer]) -> None:
    """spec.channels.deadLetter.exchange puts dead-letter-exchange on the channel policy: a
    message nobody read within expiry lands in a queue bound to that exchange, marked as
    expired from its channel's queue."""
    exchange = f"{prefix}.dead-letters"
    resource = make_resource(channels={"expiry": 1, "capacity": 5,
                                       "deadLetter": {"exchange": exchange}})
    secret = provision(resource, admin)
    vhost, queue = resource["spec"]["vhost"], f"{prefix}.channel.dl-work"
    policy = admin.get(admin.policy_path(vhost, f"{prefix}.channel-limits"))
    assert policy["definition"]["dead-letter-exchange"] == exchange

    # What the broker's owner sets up to keep dead letters (the layer's user may not).
    dead = f"{prefix}.dead"
    admin.put(f"/api/exchanges/{vhost}/{exchange}", {"type": "fanout", "durable": True})
    admin.put(f"/api/queues/{vhost}/{dead}", {"durable": True})
    admin.request("POST", f"/api/bindings/{vhost}/e/{exchange}/q/{dead}", {"routing_key": ""})

    layer = from_secret(secret, layers)
    await layer.send("dl-work", {"type": "job"})  # nobody receives "dl-work"
    got: list[Any] = []

    def take_one() -> bool:  # the management API's get: no statistics lag
        got.extend(admin.request("POST", f"/api/queues/{vhost}/{dead}/get", {
            "count": 1, "ackmode": "ack_requeue_false", "encoding": "base64"}))
        return bool(got)

    wait_until(take_one, f"a dead letter in {dead}")
    [death, *_] = got[0]["properties"]["headers"]["x-death"]
    assert (death["reason"], death["queue"]) == ("expired", queue)
