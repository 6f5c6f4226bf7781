"""The kopf handlers: thin glue between ChannelLayer events and the reconcile.

create/update/resume and a 60 s timer all run the same reconcile (the timer puts back what
someone changed by hand); delete runs behind kopf's finalizer. Errors become kopf's
vocabulary: ``Temporary`` -> ``kopf.TemporaryError`` with exponential backoff,
``Permanent`` -> ``kopf.PermanentError``; both are written to the ``Ready`` condition first.

Kubernetes is reached only through ``dependencies.secrets`` (a ``SecretStore``), so tests
swap in a store in memory and call the handlers with a real broker underneath.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import kopf

from . import GROUP, PLURAL, VERSION
from .connection_secret import StoredSecret
from .desired import DesiredState, desired_state
from .errors import InvalidSpec, OperatorError, Temporary
from .management import Management
from .reconcile import queue_depths, reconcile, remove, remove_stale
from .secret_store import KubernetesSecrets, SecretStore
from .spec import ChannelLayerSpec

TIMER_INTERVAL = 60.0
MAX_BACKOFF = 300.0
# Deletion waits this many retries (10+20+40 s) for a missing admin or CA Secret, then lets
# the resource go: in a namespace being deleted those Secrets go first, and a finalizer
# waiting for them would block the namespace forever.
DELETE_SECRET_RETRIES = 3
FINALIZER = f"{GROUP}/finalizer"


class MissingSecret(Temporary):
    """A Secret the spec names does not exist (yet): retried, it may be created later."""

    reason = "SecretMissing"


def connect(spec: ChannelLayerSpec, secrets: SecretStore) -> Management:
    """The management API, with the admin credentials from the spec's Secret."""
    ref = spec.admin_secret
    admin = _read(secrets, spec.namespace, ref.name)
    missing = [k for k in (ref.username_key, ref.password_key) if not admin.data.get(k)]
    if missing:
        raise InvalidSpec(f"Secret {ref.name} has no key(s) {', '.join(missing)}")
    return Management(spec.management_url, admin.data[ref.username_key],
                      admin.data[ref.password_key],
                      ca_data=_ca(secrets, spec.namespace, spec.management_ca_secret))


@dataclass
class Dependencies:
    secrets: SecretStore
    connect: Callable[[ChannelLayerSpec, SecretStore], Management] = connect


dependencies = Dependencies(secrets=KubernetesSecrets())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER


Logger = logging.Logger | logging.LoggerAdapter[Any]


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
def reconcile_handler(spec: Any, meta: Any, status: Any, patch: kopf.Patch, logger: Logger,
                      retry: int = 0, **_: Any) -> None:
    """Bring the broker and the Secret to the spec; report on the status."""
    _reconcile(spec, meta, status, patch, logger, retry)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TIMER_INTERVAL, initial_delay=TIMER_INTERVAL)
def drift_timer(spec: Any, meta: Any, status: Any, patch: kopf.Patch, logger: Logger,
                retry: int = 0, **_: Any) -> None:
    """Every minute: put back what was changed by hand, refresh the queue depths."""
    _reconcile(spec, meta, status, patch, logger, retry)


def _reconcile(spec: Any, meta: Any, status: Any, patch: kopf.Patch, logger: Logger,
               retry: int) -> None:
    with _reported(meta, status, patch, retry):
        layer = _spec(spec, meta)
        api = dependencies.connect(layer, dependencies.secrets)
        before = (status or {}).get("made") or None
        old_secret = (before or {}).get("secret")
        stored = dependencies.secrets.read(layer.namespace, layer.secret_name)
        if stored is None and old_secret and old_secret != layer.secret_name:
            # spec.secretName changed: keep the password the running pods use
            stored = dependencies.secrets.read(layer.namespace, old_secret)
        result = reconcile(layer, api, stored, made_before=before,
                           ca=_ca(dependencies.secrets, layer.namespace, layer.amqp_ca_secret))
        changes = list(result.changes)
        if dependencies.secrets.write(result.secret):
            changes.append(f"wrote secret {layer.secret_name}")
        if old_secret and old_secret != layer.secret_name and \
                dependencies.secrets.delete(layer.namespace, old_secret):
            changes.append(f"deleted stale secret {old_secret}")
        for change in changes:
            logger.info(change)
        patch.status["made"] = result.made
        patch.status["queueDepths"] = queue_depths(api, layer.vhost, layer.prefix)
        _set_ready(patch, status, meta, "True", "Reconciled",
                   f"{len(changes)} change(s)" if changes else "in sync")


@kopf.on.delete(GROUP, VERSION, PLURAL)
def delete_handler(spec: Any, meta: Any, status: Any, patch: kopf.Patch, logger: Logger,
                   retry: int = 0, **_: Any) -> None:
    """Remove the policies, the user and (unless KeepVhost) the vhost, then the Secret.

    Without the admin credentials (their Secret stays missing for DELETE_SECRET_RETRIES
    retries) the broker is left as it is, with a warning naming what remains there."""
    with _reported(meta, status, patch, retry):
        layer = _spec(spec, meta)
        keep_vhost = layer.deletion_policy == "KeepVhost"
        desired = desired_state(layer)
        # What the last run made under older names, if the spec was renamed since.
        before = (status or {}).get("made") or {}
        try:
            api = dependencies.connect(layer, dependencies.secrets)
        except MissingSecret as exc:
            if retry < DELETE_SECRET_RETRIES:
                raise
            logger.warning(f"{exc}: giving up on the broker after {retry} retries; left on "
                           f"{layer.management_url}: {_left_behind(desired, before, keep_vhost)}")
            changes = []
        else:
            changes = remove_stale(api, before, desired, keep_vhost=keep_vhost)
            changes += remove(api, desired, keep_vhost=keep_vhost)
        for secret in dict.fromkeys([before.get("secret"), layer.secret_name]):
            if secret and dependencies.secrets.delete(layer.namespace, secret):
                changes.append(f"deleted secret {secret}")
        for change in changes:
            logger.info(change)


def _left_behind(desired: DesiredState, before: dict[str, Any], keep_vhost: bool) -> str:
    """What a deletion without the broker leaves there (also older names), in words."""
    users = dict.fromkeys([before.get("user"), desired.user])
    vhosts = dict.fromkeys([before.get("vhost"), desired.vhost])
    policies = dict.fromkeys([*(before.get("policies") or []),
                              *(p.name for p in desired.policies)])
    parts = [f"user(s) {', '.join(u for u in users if u)}"]
    if keep_vhost:
        parts.append(f"policies {', '.join(policies)} (vhost kept by deletionPolicy)")
    else:
        parts.append(f"vhost(s) {', '.join(v for v in vhosts if v)} with policies "
                     f"{', '.join(policies)}")
    return "; ".join(parts)


def backoff(retry: int) -> float:
    """Seconds before the next try: 10, 20, 40 ... up to 5 minutes."""
    return float(min(10.0 * 2 ** retry, MAX_BACKOFF))


@contextmanager
def _reported(meta: Any, status: Any, patch: kopf.Patch, retry: int) -> Iterator[None]:
    """Turn our errors into kopf's, with the Ready condition saying why."""
    try:
        yield
    except Temporary as exc:
        _set_ready(patch, status, meta, "False", exc.reason, str(exc))
        raise kopf.TemporaryError(str(exc), delay=backoff(retry)) from exc
    except OperatorError as exc:
        _set_ready(patch, status, meta, "False", exc.reason, str(exc))
        raise kopf.PermanentError(str(exc)) from exc


def _spec(spec: Any, meta: Any) -> ChannelLayerSpec:
    return ChannelLayerSpec.from_spec(spec, name=meta["name"],
                                      namespace=meta.get("namespace") or "default")


def _read(secrets: SecretStore, namespace: str, name: str) -> StoredSecret:
    stored = secrets.read(namespace, name)
    if stored is None:
        raise MissingSecret(f"Secret {namespace}/{name} does not exist")
    return stored


def _ca(secrets: SecretStore, namespace: str, name: str | None) -> str | None:
    if name is None:
        return None
    ca = _read(secrets, namespace, name).data.get("ca.crt")
    if not ca:
        raise InvalidSpec(f"Secret {namespace}/{name} has no key ca.crt")
    return ca


def _set_ready(patch: kopf.Patch, status: Any, meta: Any, ready: str, reason: str,
               message: str) -> None:
    """Write observedGeneration and the Ready condition; its time moves only on a flip."""
    previous: dict[str, Any] = next((c for c in (status or {}).get("conditions") or []
                     if c.get("type") == "Ready"), {})
    since = previous.get("lastTransitionTime") if previous.get("status") == ready else None
    condition: MutableMapping[str, Any] = {
        "type": "Ready", "status": ready, "reason": reason, "message": message[:1000],
        "lastTransitionTime": since or datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
    }
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["conditions"] = [condition]
