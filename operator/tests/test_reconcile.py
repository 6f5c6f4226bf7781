"""The reconcile against a real RabbitMQ: it creates, stays idempotent, corrects drift,
keeps or rotates the password, and cleans up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from amqp_channels_operator.connection_secret import StoredSecret
from amqp_channels_operator.desired import desired_state
from amqp_channels_operator.management import Management
from amqp_channels_operator.reconcile import queue_depths, reconcile, remove
from amqp_channels_operator.spec import ChannelLayerSpec

Resource = dict[str, Any]


def run(resource: Resource, admin: Management, stored: StoredSecret | None = None,
        **options: Any) -> tuple[list[str], StoredSecret]:
    """One reconcile; its changes and the Secret as it would be read back."""
    result = reconcile(ChannelLayerSpec.from_resource(resource), admin, stored, **options)
    return result.changes, StoredSecret.from_manifest(result.secret)


def test_first_run_creates_vhost_user_permissions_and_policies(
        make_resource: Callable[..., Resource], admin: Management, prefix: str) -> None:
    """Everything the layer needs exists afterwards, limited to the prefix."""
    resource = make_resource()
    vhost, user = resource["spec"]["vhost"], resource["metadata"]["name"]
    changes, _ = run(resource, admin)
    assert changes == [f"created vhost {vhost}", f"created user {user}",
                       f"set permissions of {user} on {vhost}",
                       f"set policy {prefix}.channel-limits", f"set policy {prefix}.inbox-limits"]
    permissions = admin.get(admin.permissions_path(vhost, user))
    assert permissions["configure"].startswith(f"^({prefix}\\.channel\\.")
    assert "amq\\.default" in permissions["write"]
    assert "amq\\.default" not in permissions["configure"]
    policy = admin.get(admin.policy_path(vhost, f"{prefix}.channel-limits"))
    assert policy["definition"] == {"message-ttl": 30000, "max-length": 5,
                                    "overflow": "reject-publish"}
    assert policy["apply-to"] == "queues"
    inbox = admin.get(admin.policy_path(vhost, f"{prefix}.inbox-limits"))
    assert inbox["pattern"] == f"^{prefix}\\.inbox\\."


def test_second_run_changes_nothing(make_resource: Callable[..., Resource],
                                    admin: Management) -> None:
    """With the previous Secret (the password store), a rerun reports no change."""
    resource = make_resource()
    _, secret = run(resource, admin)
    changes, again = run(resource, admin, secret)
    assert changes == []
    assert again.data == secret.data


@pytest.mark.parametrize("drift", [
    pytest.param(lambda admin, vhost, user, prefix: admin.put(
        admin.policy_path(vhost, f"{prefix}.channel-limits"),
        {"pattern": ".*", "definition": {"max-length": 100000}, "apply-to": "queues"}),
        id="policy-edited"),
    pytest.param(lambda admin, vhost, user, prefix: admin.put(
        admin.permissions_path(vhost, user), {"configure": ".*", "write": ".*", "read": ".*"}),
        id="permissions-widened"),
    pytest.param(lambda admin, vhost, user, prefix: admin.put(
        admin.user_path(user), {"password": "hand-set", "tags": "administrator"}),
        id="password-and-tags-changed"),
    pytest.param(lambda admin, vhost, user, prefix: admin.delete(
        admin.policy_path(vhost, f"{prefix}.inbox-limits")), id="policy-deleted"),
])
def test_hand_made_change_is_corrected(make_resource: Callable[..., Resource],
                                       admin: Management, prefix: str,
                                       drift: Callable[..., None]) -> None:
    """After someone changes an object by hand, one run puts it back, the next is quiet."""
    resource = make_resource()
    vhost, user = resource["spec"]["vhost"], resource["metadata"]["name"]
    _, secret = run(resource, admin)
    before = {path: admin.get(path) for path in (
        admin.permissions_path(vhost, user), admin.policy_path(vhost, f"{prefix}.inbox-limits"),
        admin.policy_path(vhost, f"{prefix}.channel-limits"))}
    drift(admin, vhost, user, prefix)
    changes, _ = run(resource, admin, secret)
    assert len(changes) == 1
    assert run(resource, admin, secret)[0] == []
    assert {path: admin.get(path) for path in before} == before


def test_password_stays_until_rotation_changes(make_resource: Callable[..., Resource],
                                               admin: Management) -> None:
    """The stored password is kept; a new passwordRotation value sets a new one."""
    resource = make_resource(user={"passwordRotation": "1"})
    _, first = run(resource, admin)
    _, kept = run(resource, admin, first)
    assert kept.password == first.password
    resource["spec"]["user"]["passwordRotation"] = "2"
    changes, rotated = run(resource, admin, kept)
    assert rotated.password != first.password
    assert any("rotated the password" in c for c in changes)
    assert rotated.annotations["amqp-channels.io/password-rotation"] == "2"


def test_dry_run_reports_and_changes_nothing(make_resource: Callable[..., Resource],
                                             admin: Management) -> None:
    """--dry-run lists the same changes a real run would make, and makes none."""
    resource = make_resource()
    planned, _ = run(resource, admin, dry_run=True)
    assert admin.get(admin.vhost_path(resource["spec"]["vhost"])) is None
    assert admin.get(admin.user_path(resource["metadata"]["name"])) is None
    assert run(resource, admin)[0] == planned


@pytest.mark.parametrize(("policy", "vhost_kept"), [
    pytest.param("Delete", False, id="delete"),
    pytest.param("KeepVhost", True, id="keep-vhost"),
])
def test_remove_cleans_up(make_resource: Callable[..., Resource], admin: Management,
                          prefix: str, policy: str, vhost_kept: bool) -> None:
    """Deletion removes the policies and the user, and the vhost unless KeepVhost."""
    resource = make_resource(deletionPolicy=policy)
    spec = ChannelLayerSpec.from_resource(resource)
    run(resource, admin)
    changes = remove(admin, desired_state(spec), keep_vhost=policy == "KeepVhost")
    assert f"deleted user {spec.user}" in changes
    assert admin.get(admin.user_path(spec.user)) is None
    assert (admin.get(admin.vhost_path(spec.vhost)) is not None) is vhost_kept
    if vhost_kept:
        assert admin.get(f"/api/policies/{spec.vhost}") == []
    assert remove(admin, desired_state(spec), keep_vhost=vhost_kept) == []


@pytest.mark.parametrize(("rename", "policy"), [
    pytest.param("prefix", "Delete", id="prefix"),
    pytest.param("user", "Delete", id="user"),
    pytest.param("vhost", "Delete", id="vhost-deleted"),
    pytest.param("vhost", "KeepVhost", id="vhost-kept"),
])
def test_rename_removes_what_the_old_names_made(make_resource: Callable[..., Resource],
                                                admin: Management, prefix: str, rename: str,
                                                policy: str) -> None:
    """Given the previous Secret (as the one-shot command gets it), the run after a rename
    makes the new objects and removes the old policies, user or vhost (kept with KeepVhost,
    then emptied of our policies and permissions); the run after that is quiet."""
    resource = make_resource(deletionPolicy=policy)
    old = ChannelLayerSpec.from_resource(resource)
    _, secret = run(resource, admin)
    if rename == "prefix":
        resource["spec"]["prefix"] = prefix + "new"
    elif rename == "user":
        resource["spec"]["user"] = {"name": old.user + "-new"}
    else:
        resource["spec"]["vhost"] = old.vhost + "-new"
    new = ChannelLayerSpec.from_resource(resource)
    wanted = {p.name for p in desired_state(new).policies}

    changes, secret = run(resource, admin, secret)
    assert any("stale" in change for change in changes)
    assert {p["name"] for p in admin.get(f"/api/policies/{new.vhost}")} == wanted
    assert admin.get(admin.permissions_path(new.vhost, new.user)) is not None
    assert (admin.get(admin.user_path(old.user)) is None) is (old.user != new.user)
    vhost_kept = old.vhost == new.vhost or policy == "KeepVhost"
    assert (admin.get(admin.vhost_path(old.vhost)) is not None) is vhost_kept
    if vhost_kept and old.vhost != new.vhost:
        assert admin.get(f"/api/policies/{old.vhost}") == []
        assert admin.get(admin.permissions_path(old.vhost, old.user)) is None
    assert run(resource, admin, secret)[0] == []


class _QueueRows:
    """Only ``queues()`` of the management API, answering with fixed rows (pure logic)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        return self.rows


def test_queue_without_statistics_is_left_out_of_the_depths() -> None:
    """A queue the broker has no statistics for (just declared, or RabbitMQ 4 with
    management_metrics_collection denied) is not reported as empty: a false 0 would let an
    autoscaler reading status.queueDepths remove workers from a busy queue."""
    api: Any = _QueueRows([
        {"name": "chat.channel.jobs", "messages_ready": 7},
        {"name": "chat.channel.mail"},  # no statistics
        {"name": "chat.channel.idle", "messages_ready": 0},
        {"name": "chat.inbox.abc", "messages_ready": 3},  # not a normal channel
    ])
    assert queue_depths(api, "/", "chat") == {"jobs": 7, "idle": 0}
