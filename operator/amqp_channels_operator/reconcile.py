"""Bring the broker to the desired state, and report what that changed.

Each object is read first and written only when it differs, so a second run changes nothing
and a hand-made change (a policy edited, a permission widened, the user's password reset)
is put back. ``dry_run`` reads and reports without writing. The list of changes is the
operator's log and the one-shot command's output.
"""

from __future__ import annotations

import base64
import hashlib
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
              ca: str | None = None, dry_run: bool = False) -> Reconciled:
    """Apply ``spec`` to the broker; the Secret to write keeps or rotates the password."""
    password, new = choose_password(stored, spec.password_rotation)
    desired = desired_state(spec)
    changes = apply(api, desired, password, dry_run=dry_run)
    if new and stored is not None:
        changes.append(f"rotated the password of user {spec.user}")
    return Reconciled(changes=changes,
                      secret=secret_manifest(spec, secret_data(spec, password, ca)),
                      made=made(desired, spec))


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
    changes = []
    for path, change in targets:
        if api.get(path) is None:
            continue
        if dry_run or api.delete(path):
            changes.append(change)
    return changes


def queue_depths(api: Management, vhost: str, prefix: str) -> dict[str, int]:
    """Ready messages on each normal channel's queue, by channel name: a scaling hint."""
    start = channel_queue(prefix, "")
    return {q["name"][len(start):]: int(q.get("messages_ready") or 0)
            for q in api.queues(vhost) if q["name"].startswith(start)}


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
