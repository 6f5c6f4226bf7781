"""Bring the broker to the desired state, and report what that changed.

Each object is read first and written only when it differs, so a second run changes nothing
and a hand-made change (a policy edited, a permission widened, the user's password reset)
is put back. ``dry_run`` reads and reports without writing. The list of changes is the
operator's log and the one-shot command's output.

Every run records the names it made (the status's ``made``, and an annotation on the Secret
for the one-shot command); the next run removes what a renamed prefix, user or vhost left
behind, following ``deletionPolicy`` for the old vhost.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amqp_channels.layer.naming import channel_queue

from .connection_secret import StoredSecret, choose_password, secret_data, secret_manifest
from .desired import DesiredState, desired_state
from .management import Management
from .spec import ChannelLayerSpec

DEFAULT_VHOST = "/"  # never deleted, whatever deletionPolicy says
HASHES = {"rabbit_password_hashing_sha256": hashlib.sha256,
          "rabbit_password_hashing_sha512": hashlib.sha512,
          "rabbit_password_hashing_md5": hashlib.md5}


@dataclass(frozen=True)
class Reconciled:
    """What a reconcile did, and the Secret that goes with it."""

    changes: list[str]
    secret: dict[str, Any]
    made: dict[str, Any]


def reconcile(spec: ChannelLayerSpec, api: Management, stored: StoredSecret | None, *,
              ca: str | None = None, dry_run: bool = False,
              made_before: Mapping[str, Any] | None = None) -> Reconciled:
    """Apply ``spec`` to the broker; the Secret to write keeps or rotates the password.

    ``made_before`` (else the one recorded on ``stored``) names what an earlier run made:
    what of it the spec no longer names is removed once the new objects exist."""
    password, new = choose_password(stored, spec.password_rotation)
    desired = desired_state(spec)
    changes = apply(api, desired, password, dry_run=dry_run)
    if new and stored is not None:
        changes.append(f"rotated the password of user {spec.user}")
    if made_before is None and stored is not None:
        made_before = stored.made
    if made_before:
        changes += remove_stale(api, made_before, desired,
                                keep_vhost=spec.deletion_policy == "KeepVhost", dry_run=dry_run)
    names = made(desired, spec)
    return Reconciled(changes=changes,
                      secret=secret_manifest(spec, secret_data(spec, password, ca), names),
                      made=names)


def made(desired: DesiredState, spec: ChannelLayerSpec) -> dict[str, Any]:
    """Names of what the operator owns, for the status."""
    return {"vhost": desired.vhost, "user": desired.user,
            "policies": [p.name for p in desired.policies], "secret": spec.secret_name}


def apply(api: Management, desired: DesiredState, password: str, *,
          dry_run: bool = False) -> list[str]:
    """Create or correct the vhost, user, permissions and policies; the changes made."""
    changes: list[str] = []

    def put(path: str, body: Any, change: str) -> None:
        changes.append(change)
        if not dry_run:
            api.put(path, body)

    vhost = api.vhost_path(desired.vhost)
    if api.get(vhost) is None:
        put(vhost, {}, f"created vhost {desired.vhost}")
    user = api.get(api.user_path(desired.user))
    if user is None:
        put(api.user_path(desired.user), {"password": password, "tags": ""},
            f"created user {desired.user}")
    elif not password_matches(user, password) or _tags(user):
        put(api.user_path(desired.user), {"password": password, "tags": ""},
            f"updated user {desired.user} (password or tags)")
    permissions = api.permissions_path(desired.vhost, desired.user)
    wanted = desired.permissions.as_body()
    if not _same(api.get(permissions), wanted):
        put(permissions, wanted, f"set permissions of {desired.user} on {desired.vhost}")
    for policy in desired.policies:
        path = api.policy_path(desired.vhost, policy.name)
        if not _same(api.get(path), policy.as_body()):
            put(path, policy.as_body(), f"set policy {policy.name}")
    return changes


def remove(api: Management, desired: DesiredState, *, keep_vhost: bool,
           dry_run: bool = False) -> list[str]:
    """Delete what ``apply`` made: policies, user (and its permissions), vhost unless kept."""
    targets = [(api.policy_path(desired.vhost, p.name), f"deleted policy {p.name}")
               for p in desired.policies]
    targets.append((api.user_path(desired.user), f"deleted user {desired.user}"))
    if not keep_vhost and desired.vhost != DEFAULT_VHOST:
        targets.append((api.vhost_path(desired.vhost), f"deleted vhost {desired.vhost}"))
    return _delete(api, targets, dry_run)


def remove_stale(api: Management, before: Mapping[str, Any], desired: DesiredState, *,
                 keep_vhost: bool, dry_run: bool = False) -> list[str]:
    """Delete what an earlier run made (``before``: names, as in the status's ``made``) and
    ``desired`` no longer names: policies of an old prefix, an old user, an old vhost (unless
    kept, then the policies and permissions in it)."""
    vhost, user = before.get("vhost"), before.get("user")
    if not isinstance(vhost, str) or not isinstance(user, str):
        return []
    vhost_goes = vhost != desired.vhost and not keep_vhost and vhost != DEFAULT_VHOST
    targets: list[tuple[str, str]] = []
    if not vhost_goes:  # a deleted vhost takes its policies and permissions along
        wanted = {p.name for p in desired.policies} if vhost == desired.vhost else set()
        targets += [(api.policy_path(vhost, name), f"deleted stale policy {name} in {vhost}")
                    for name in before.get("policies") or [] if name not in wanted]
        if vhost != desired.vhost and user == desired.user:
            targets.append((api.permissions_path(vhost, user),
                            f"deleted stale permissions of {user} on {vhost}"))
    if user != desired.user:
        targets.append((api.user_path(user), f"deleted stale user {user}"))
    if vhost_goes:
        targets.append((api.vhost_path(vhost), f"deleted stale vhost {vhost}"))
    return _delete(api, targets, dry_run)


def _delete(api: Management, targets: list[tuple[str, str]], dry_run: bool) -> list[str]:
    """Delete each existing ``(path, change)``; the changes of those that existed."""
    changes = []
    for path, change in targets:
        if api.get(path) is None:
            continue
        if dry_run or api.delete(path):
            changes.append(change)
    return changes


def queue_depths(api: Management, vhost: str, prefix: str) -> dict[str, int]:
    """Ready messages on each normal channel's queue, by channel name: a scaling hint.

    A queue whose row has no ``messages_ready`` is left out, not reported as empty: the
    broker has no statistics for it yet, or collects none (RabbitMQ 4's deprecated feature
    ``management_metrics_collection`` denied), and a false 0 would scale workers down."""
    start = channel_queue(prefix, "")
    return {q["name"][len(start):]: int(q["messages_ready"])
            for q in api.queues(vhost)
            if q["name"].startswith(start) and q.get("messages_ready") is not None}


def password_matches(user: dict[str, Any], password: str) -> bool:
    """Whether the broker's stored hash is of ``password`` (salt: the hash's first 4 bytes).
    An algorithm we do not know counts as a match: better no churn than a reset per run."""
    algorithm = HASHES.get(user.get("hashing_algorithm", ""))
    if algorithm is None:
        return True
    stored = base64.b64decode(user.get("password_hash") or "")
    salt = stored[:4]
    return len(stored) > 4 and algorithm(salt + password.encode()).digest() == stored[4:]


def _tags(user: dict[str, Any]) -> list[str]:
    tags = user.get("tags") or []
    return [t for t in (tags.split(",") if isinstance(tags, str) else tags) if t]


def _same(current: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    return current is not None and all(current.get(k) == v for k, v in wanted.items())
