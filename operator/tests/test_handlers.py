"""The kopf handlers, called as kopf calls them, with the real reconcile and broker underneath
and a Secret store in memory instead of the Kubernetes API."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import pytest
from conftest import ADMIN_SECRET, NAMESPACE, MemorySecrets

from amqp_channels_operator import handlers
from amqp_channels_operator.management import Management
from amqp_channels_operator.spec import ChannelLayerSpec
from tests.helpers import wait_until

Resource = dict[str, Any]
log = logging.getLogger("test-handlers")


@pytest.fixture(autouse=True)
def in_memory(secrets: MemorySecrets) -> Iterator[None]:
    saved = handlers.dependencies
    handlers.dependencies = handlers.Dependencies(secrets=secrets)
    yield
    handlers.dependencies = saved


def call(handler: Callable[..., None], resource: Resource, retry: int = 0,
         patch: kopf.Patch | None = None) -> kopf.Patch:
    """Call ``handler`` with the keyword arguments kopf passes; the patch it made."""
    patch = kopf.Patch() if patch is None else patch
    handler(spec=resource["spec"], meta=resource["metadata"],
            status=resource.get("status", {}), patch=patch, retry=retry, logger=log)
    return patch


def test_create_writes_the_secret_and_a_ready_status(
        make_resource: Callable[..., Resource], secrets: MemorySecrets, admin: Management,
        prefix: str) -> None:
    """Ready=True, observedGeneration, the names made and the queue depths land on the status;
    the Secret holds the contract's keys."""
    resource = make_resource()
    resource["metadata"]["generation"] = 3
    patch = call(handlers.reconcile_handler, resource)
    spec = ChannelLayerSpec.from_resource(resource)
    status = patch["status"]
    assert status["observedGeneration"] == 3
    [ready] = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Reconciled")
    assert status["made"] == {"vhost": spec.vhost, "user": spec.user, "secret": spec.secret_name,
                              "policies": [f"{prefix}.channel-limits", f"{prefix}.inbox-limits"]}
    assert status["queueDepths"] == {}
    stored = secrets.read(NAMESPACE, spec.secret_name)
    assert stored is not None
    assert set(stored.data) == {"AMQP_CHANNELS_URL", "AMQP_CHANNELS_LAYERS"}

    admin.put(f"/api/queues/{spec.vhost}/{prefix}.channel.jobs", {"durable": True})
    admin.request("POST", f"/api/exchanges/{spec.vhost}/amq.default/publish", {
        "properties": {}, "routing_key": f"{prefix}.channel.jobs", "payload": "x",
        "payload_encoding": "string"})
    wait_for_ready_messages(admin, spec.vhost, f"{prefix}.channel.jobs", 1)
    resource["status"] = status
    again = call(handlers.drift_timer, resource)["status"]
    assert again["conditions"][0]["message"] == "in sync"
    assert again["conditions"][0]["lastTransitionTime"] == ready["lastTransitionTime"]
    assert again["queueDepths"] == {"jobs": 1}


def wait_for_ready_messages(admin: Management, vhost: str, queue: str, count: int) -> None:
    """The management API's queue statistics lag (collected every 5 s): wait, bounded."""
    wait_until(lambda: (admin.get(f"/api/queues/{vhost}/{queue}") or {}).get(
        "messages_ready") == count, f"{count} ready message(s) on {queue}", timeout=15)


def test_delete_removes_everything_and_the_secret(
        make_resource: Callable[..., Resource], secrets: MemorySecrets,
        admin: Management) -> None:
    """The finalizer's handler leaves no vhost, user or Secret behind, also those of names
    the spec changed since the last reconcile (the status's ``made`` names them)."""
    resource = make_resource()
    spec = ChannelLayerSpec.from_resource(resource)
    resource["status"] = call(handlers.reconcile_handler, resource)["status"]
    resource["spec"].update(user={"name": spec.user + "-new"}, secretName="renamed")
    call(handlers.delete_handler, resource)
    assert admin.get(admin.vhost_path(spec.vhost)) is None
    assert admin.get(admin.user_path(spec.user)) is None
    assert secrets.read(NAMESPACE, spec.secret_name) is None


def test_rename_removes_the_old_policies_user_and_secret(
        make_resource: Callable[..., Resource], secrets: MemorySecrets, admin: Management,
        prefix: str) -> None:
    """The status's ``made`` names what the last run made: after prefix, user and secretName
    change, the next run removes the old policies, user and Secret, keeping the password."""
    resource = make_resource()
    old = ChannelLayerSpec.from_resource(resource)
    resource["status"] = call(handlers.reconcile_handler, resource)["status"]
    previous = secrets.read(NAMESPACE, old.secret_name)
    assert previous is not None
    resource["spec"].update(prefix=prefix + "new", user={"name": old.user + "-new"},
                            secretName="renamed")
    new = ChannelLayerSpec.from_resource(resource)

    status = call(handlers.reconcile_handler, resource)["status"]
    assert status["made"]["user"] == new.user
    assert {p["name"] for p in admin.get(f"/api/policies/{new.vhost}")} == set(
        status["made"]["policies"]) == {f"{prefix}new.channel-limits", f"{prefix}new.inbox-limits"}
    assert admin.get(admin.user_path(old.user)) is None
    assert secrets.read(NAMESPACE, old.secret_name) is None
    renamed = secrets.read(NAMESPACE, "renamed")
    assert renamed is not None
    assert renamed.password == previous.password


def test_unreachable_broker_is_a_temporary_error_with_backoff(
        make_resource: Callable[..., Resource]) -> None:
    """Connection refused: Ready=False (BrokerUnavailable) and kopf retries later."""
    resource = make_resource()
    resource["spec"]["management"]["url"] = "http://127.0.0.1:9"  # discard port: refused
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError) as error:
        call(handlers.reconcile_handler, resource, retry=2, patch=patch)
    assert error.value.delay == 40
    [ready] = patch["status"]["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "BrokerUnavailable")


def test_bad_admin_password_is_permanent_and_reported(
        make_resource: Callable[..., Resource], secrets: MemorySecrets) -> None:
    """401 from the management API: Ready=False (Unauthorized), no retry."""
    secrets.put({"metadata": {"name": "wrong-admin", "namespace": NAMESPACE},
                 "stringData": {"username": "guest", "password": "wrong"}})
    resource = make_resource()
    resource["spec"]["management"]["adminSecretRef"]["name"] = "wrong-admin"
    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError):
        call(handlers.reconcile_handler, resource, patch=patch)
    assert patch["status"]["conditions"][0]["reason"] == "Unauthorized"


def test_missing_admin_secret_is_retried(make_resource: Callable[..., Resource]) -> None:
    """An admin Secret that does not exist yet is waited for, not given up on."""
    resource = make_resource()
    resource["spec"]["management"]["adminSecretRef"]["name"] = "not-there-yet"
    with pytest.raises(kopf.TemporaryError, match="not-there-yet"):
        call(handlers.reconcile_handler, resource)


def test_delete_without_the_admin_secret_gives_up_after_bounded_retries(
        make_resource: Callable[..., Resource], secrets: MemorySecrets, admin: Management,
        caplog: pytest.LogCaptureFixture) -> None:
    """In a namespace being deleted the admin Secret may go first: deletion retries a few
    times, then releases the finalizer (returns), deletes the connection Secret and warns
    naming what stays on the broker, instead of blocking the namespace forever."""
    resource = make_resource()
    spec = ChannelLayerSpec.from_resource(resource)
    resource["status"] = call(handlers.reconcile_handler, resource)["status"]
    secrets.delete(NAMESPACE, ADMIN_SECRET)

    for retry in range(handlers.DELETE_SECRET_RETRIES):
        with pytest.raises(kopf.TemporaryError, match=f"{ADMIN_SECRET} does not exist"):
            call(handlers.delete_handler, resource, retry=retry)
    with caplog.at_level(logging.WARNING, logger=log.name):
        call(handlers.delete_handler, resource, retry=handlers.DELETE_SECRET_RETRIES)

    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "giving up on the broker" in warning
    assert f"user(s) {spec.user}" in warning and f"vhost(s) {spec.vhost}" in warning
    assert f"{spec.prefix}.channel-limits" in warning
    assert secrets.read(NAMESPACE, spec.secret_name) is None
    assert admin.get(admin.vhost_path(spec.vhost)) is not None  # left, as the warning says
