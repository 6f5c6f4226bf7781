"""Local group membership: one broker binding per (group, process), expiry as the spec says."""

from __future__ import annotations

from amqp_channels.groups.membership import LocalMembership


def test_first_member_binds_last_member_unbinds() -> None:
    """Only the first add and the last discard of a group need the broker."""
    m = LocalMembership(group_expiry=None)
    assert m.add("room", "a!1") is True
    assert m.add("room", "a!2") is False
    assert m.add("room", "a!1") is False  # idempotent
    assert m.discard("room", "a!1") is False
    assert m.discard("room", "a!1") is False  # absent: no error, nothing to do
    assert m.discard("room", "a!2") is True
    assert "room" not in m


def test_discard_of_unknown_group_is_a_no_op() -> None:
    """group_discard of a group or channel never added does nothing."""
    m = LocalMembership(group_expiry=None)
    assert m.discard("nope", "a!1") is False


def test_members_expire_after_group_expiry_since_last_add() -> None:
    """A membership lapses group_expiry seconds after its last group_add."""
    m = LocalMembership(group_expiry=10)
    m.add("room", "a!1", now=0)
    m.add("room", "a!2", now=5)
    assert sorted(m.members("room", now=9)) == ["a!1", "a!2"]
    assert m.members("room", now=12) == ["a!2"]
    assert m.expire(now=12) == [("room", "a!1")]
    m.add("room", "a!2", now=14)  # refreshed
    assert m.expire(now=20) == []
    assert m.expire(now=25) == [("room", "a!2")]
    assert "room" not in m


def test_expiry_off_keeps_members() -> None:
    """With group_expiry off, memberships last until discarded (or the process ends)."""
    m = LocalMembership(group_expiry=None)
    m.add("room", "a!1", now=0)
    assert m.expire(now=10**9) == []
    assert m.members("room", now=10**9) == ["a!1"]
