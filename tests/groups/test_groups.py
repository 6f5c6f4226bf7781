"""The groups extension on a real broker: the spec's semantics, scale, expiry, topology."""

from __future__ import annotations

import asyncio

import pytest

from amqp_channels import AMQPChannelLayer
from tests.conftest import LayerFactory
from tests.helpers import receive, receives_nothing


def test_groups_extension_is_advertised() -> None:
    """The layer lists 'groups' in extensions and exposes group_expiry."""
    layer = AMQPChannelLayer(group_expiry=300)
    assert "groups" in layer.extensions and "flush" in layer.extensions
    assert layer.group_expiry == 300


@pytest.mark.uvloop
async def test_group_send_reaches_every_member_once(make_layer: LayerFactory) -> None:
    """group_send delivers one copy to each member, including members added twice."""
    layer = make_layer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room", a)
    await layer.group_add("room", a)  # idempotent
    await layer.group_add("room", b)
    await layer.group_send("room", {"type": "hello"})
    assert (await receive(layer, a))["type"] == "hello"
    assert (await receive(layer, b))["type"] == "hello"
    assert await receives_nothing(layer, a)


async def test_discarded_member_gets_nothing(make_layer: LayerFactory) -> None:
    """After group_discard a channel no longer receives the group's messages."""
    layer = make_layer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room", a)
    await layer.group_add("room", b)
    await layer.group_discard("room", b)
    await layer.group_discard("room", b)  # absent: no error
    await layer.group_send("room", {"type": "x"})
    assert (await receive(layer, a))["type"] == "x"
    assert await receives_nothing(layer, b)


async def test_channel_in_two_groups(make_layer: LayerFactory) -> None:
    """A channel in two groups receives from both, each message once."""
    layer = make_layer()
    a = await layer.new_channel()
    await layer.group_add("g1", a)
    await layer.group_add("g2", a)
    await layer.group_send("g1", {"type": "one"})
    await layer.group_send("g2", {"type": "two"})
    got = {(await receive(layer, a))["type"] for _ in range(2)}
    assert got == {"one", "two"}
    assert await receives_nothing(layer, a)


async def test_members_in_two_processes(make_layer: LayerFactory) -> None:
    """A group spans layers (processes); one group_send reaches members in each."""
    l1, l2, sender = make_layer(), make_layer(), make_layer()
    a, b = await l1.new_channel(), await l2.new_channel()
    await l1.group_add("chat", a)
    await l2.group_add("chat", b)
    await sender.group_send("chat", {"type": "m"})
    assert (await receive(l1, a))["type"] == "m"
    assert (await receive(l2, b))["type"] == "m"


@pytest.mark.parametrize("group_exchanges", [None], ids=["mixed"])
async def test_processes_binding_groups_either_way_share_groups(make_layer: LayerFactory
                                                                ) -> None:
    """A process with a fanout exchange per group and one binding its inbox to the router
    directly are members of one group alike (a deployment can change the setting process
    by process): each gets a group message once, and so does a normal channel that both
    add to the group."""
    with_exchange, with_binding = (make_layer(group_exchanges=True),
                                   make_layer(group_exchanges=False))
    a, b = await with_exchange.new_channel(), await with_binding.new_channel()
    await with_exchange.group_add("mixed", a)
    await with_binding.group_add("mixed", b)
    for sender in (with_exchange, with_binding):
        await sender.group_send("mixed", {"type": "m"})
        assert (await receive(with_exchange, a))["type"] == "m"
        assert (await receive(with_binding, b))["type"] == "m"
    assert await receives_nothing(with_exchange, a)
    assert await receives_nothing(with_binding, b)
    # A normal channel added under both settings is bound both ways: still one copy.
    for layer in (with_exchange, with_binding):
        await layer.group_add("mixed", "mixed-work")
    await with_exchange.group_send("mixed", {"type": "work"})
    assert (await receive(with_exchange, "mixed-work"))["type"] == "work"
    assert await receives_nothing(with_exchange, "mixed-work")


async def test_send_to_empty_or_unknown_group_is_a_no_op(make_layer: LayerFactory) -> None:
    """Sending to a group nobody joined raises nothing and breaks nothing."""
    layer = make_layer()
    for _ in range(3):
        await layer.group_send("nobody-here", {"type": "x"})
    a = await layer.new_channel()
    await layer.group_add("later", a)
    await layer.group_send("later", {"type": "ok"})
    assert (await receive(layer, a))["type"] == "ok"


async def test_full_member_is_skipped_without_error(make_layer: LayerFactory) -> None:
    """A member at capacity is skipped; group_send does not raise; others still get it."""
    layer = make_layer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("busy", full)
    await layer.group_add("busy", free)
    await layer.group_send("busy", {"type": "first"})
    assert (await receive(layer, free))["type"] == "first"
    await layer.group_send("busy", {"type": "second"})  # `full` still holds "first"
    assert (await receive(layer, free))["type"] == "second"
    assert (await receive(layer, full))["type"] == "first"
    assert await receives_nothing(layer, full)
    assert layer.stats.dropped["group-member-full"] == 1


async def test_group_send_returns_with_local_members_served(make_layer: LayerFactory) -> None:
    """When group_send returns, this process's members already hold the message or were
    skipped as full. The broker's confirm can overtake the delivery; without the wait a
    receive() right after group_send made room for a message that had to be skipped."""
    layer = make_layer(capacity=3)
    for attempt in range(10):
        channel = await layer.new_channel()
        await layer.group_add(f"capacity{attempt}", channel)
        for n in range(4):
            await layer.group_send(f"capacity{attempt}", {"type": "m", "n": n})
        assert [(await receive(layer, channel))["n"] for _ in range(3)] == [0, 1, 2]
        assert await receives_nothing(layer, channel, wait=0.2)


async def test_members_get_independent_copies(make_layer: LayerFactory) -> None:
    """Each local member gets its own copy of the message."""
    layer = make_layer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("copies", a)
    await layer.group_add("copies", b)
    await layer.group_send("copies", {"type": "x", "list": [1]})
    first = await receive(layer, a)
    first["list"].append(2)
    assert (await receive(layer, b))["list"] == [1]


async def test_group_expiry_drops_membership(make_layer: LayerFactory) -> None:
    """A membership lapses group_expiry seconds after the last group_add."""
    layer = make_layer(group_expiry=1)
    a = await layer.new_channel()
    await layer.group_add("short", a)
    await asyncio.sleep(1.5)
    await layer.group_send("short", {"type": "late"})
    assert await receives_nothing(layer, a)


async def test_normal_channel_as_member(make_layer: LayerFactory) -> None:
    """A normal channel can be a group member (its queue is bound to the group)."""
    layer, worker = make_layer(), make_layer()
    await layer.group_add("to-workers", "group-worker-channel")
    await layer.group_send("to-workers", {"type": "job"})
    assert (await receive(worker, "group-worker-channel"))["type"] == "job"
    await layer.group_discard("to-workers", "group-worker-channel")
    await layer.group_send("to-workers", {"type": "job2"})
    assert await receives_nothing(worker, "group-worker-channel")


@pytest.mark.uvloop
async def test_remote_group_add(make_layer: LayerFactory) -> None:
    """group_add for a channel owned by another process works: the owner fans out to it."""
    owner, other = make_layer(), make_layer()
    channel = await owner.new_channel()
    await other.group_add("remote", channel)
    async with asyncio.timeout(5):  # the owner applies the membership asynchronously
        while "remote" not in owner._state().addons["groups"]._bound:
            await asyncio.sleep(0.02)
    await other.group_send("remote", {"type": "via-owner"})
    assert (await receive(owner, channel))["type"] == "via-owner"
    await other.group_discard("remote", channel)
    async with asyncio.timeout(5):
        while "remote" in owner._state().addons["groups"].local:
            await asyncio.sleep(0.02)
    await other.group_send("remote", {"type": "gone"})
    assert await receives_nothing(owner, channel)


async def test_nothing_left_after_members_leave(make_layer: LayerFactory, rabbitmq,
                                                prefix: str, group_exchanges: bool) -> None:
    """When the last member leaves, the group's exchange (if it has one) and its bindings
    are gone."""
    layer = make_layer()
    a = await layer.new_channel()
    await layer.group_add("ephemeral", a)
    await layer.group_discard("ephemeral", a)

    def leftovers() -> set[str]:
        """Exchanges and binding routing keys that name the group."""
        exchanges = {e["name"] for e in rabbitmq.management_get("/api/exchanges/%2F")}
        keys = {b["routing_key"] for b in rabbitmq.management_get("/api/bindings/%2F")
                if b["source"] == f"{prefix}.groups"}
        return {name for name in exchanges | keys
                if name in (f"{prefix}.group.ephemeral", "ephemeral")}

    # The management API lags, and the unbind lingers 5 s: wait (bounded) for the group to
    # show up and to go.
    expected = {f"{prefix}.group.ephemeral", "ephemeral"} if group_exchanges else {"ephemeral"}
    seen: set[str] = set()
    async with asyncio.timeout(15):
        while seen != expected:
            seen |= leftovers()
            await asyncio.sleep(0.2)
    async with asyncio.timeout(25):
        while leftovers():
            await asyncio.sleep(0.5)


@pytest.mark.parametrize("name", ["", "bad name", "x" * 120, 5])
async def test_invalid_group_names_are_type_errors(layer: AMQPChannelLayer, name: object
                                                   ) -> None:
    """Invalid group names raise TypeError from every group verb."""
    channel = await layer.new_channel()
    with pytest.raises(TypeError):
        await layer.group_add(name, channel)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await layer.group_discard(name, channel)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await layer.group_send(name, {"type": "x"})  # type: ignore[arg-type]


async def test_flush_clears_groups(make_layer: LayerFactory) -> None:
    """flush() also forgets group memberships."""
    layer = make_layer()
    a = await layer.new_channel()
    await layer.group_add("flushed", a)
    await layer.flush()
    await layer.group_send("flushed", {"type": "x"})
    assert await receives_nothing(layer, a)


async def test_busy_member_loses_nothing(make_layer: LayerFactory) -> None:
    """A member that is being read but falls behind gets every group message later: the
    delivery waits unacked instead of being dropped at the local capacity."""
    layer = make_layer(capacity=2)
    sender = make_layer()
    member = await layer.new_channel()
    await layer.group_add("busy-room", member)
    await sender.group_send("busy-room", {"type": "x", "i": -1})
    assert (await receive(layer, member))["i"] == -1  # the member is being read
    for i in range(10):
        await sender.group_send("busy-room", {"type": "x", "i": i})
    assert [(await receive(layer, member))["i"] for _ in range(10)] == list(range(10))
    assert layer.stats.dropped["group-member-full"] == 0


async def test_rejoin_within_the_linger_costs_no_broker_work(make_layer: LayerFactory
                                                             ) -> None:
    """A group left and re-joined at once (a websocket reconnecting) stays bound: no
    unbind/rebind, and messages flow to the new member."""
    layer = make_layer()
    groups = layer._state().addons["groups"]
    old, new = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("user-42", old)
    await layer.group_discard("user-42", old)
    assert "user-42" in groups._bound  # the unbind lingers
    await layer.group_add("user-42", new)
    await layer.group_send("user-42", {"type": "hi"})
    assert (await receive(layer, new))["type"] == "hi"
    assert await receives_nothing(layer, old)
