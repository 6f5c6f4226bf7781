"""The Secret the operator writes (docs/deployment-contract.md) and the password it keeps.

The existing Secret is the store of the current password: the reconcile reuses the password
in its ``AMQP_CHANNELS_URL`` for as long as the ``passwordRotation`` recorded on it (an
annotation) equals the spec's. A new value, or no Secret yet, means a new password.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .spec import ChannelLayerSpec

ROTATION_ANNOTATION = "amqp-channels.io/password-rotation"
MADE_ANNOTATION = "amqp-channels.io/made"  # what the run that wrote it made (JSON)
BACKEND = "amqp_channels.layer.AMQPChannelLayer"


@dataclass(frozen=True)
class StoredSecret:
    """A Secret as read back: decoded values and annotations."""

    data: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> StoredSecret:
        """From a Secret object (``data`` base64, ``stringData`` plain, both allowed)."""
        values = {k: base64.b64decode(v).decode() for k, v in
                  (manifest.get("data") or {}).items()}
        values.update(manifest.get("stringData") or {})
        annotations = (manifest.get("metadata") or {}).get("annotations") or {}
        return cls(data=values, annotations=dict(annotations))

    @property
    def password(self) -> str | None:
        """The password in the first ``AMQP_CHANNELS_URL``, if any."""
        url = self.data.get("AMQP_CHANNELS_URL", "").split(",")[0]
        password = urlsplit(url).password if url else None
        return unquote(password) if password else None

    @property
    def made(self) -> dict[str, Any] | None:
        """What the run that wrote this Secret made on the broker (names), if recorded."""
        try:
            made = json.loads(self.annotations.get(MADE_ANNOTATION) or "null")
        except ValueError:
            return None
        return made if isinstance(made, dict) else None


def choose_password(stored: StoredSecret | None, rotation: str | None) -> tuple[str, bool]:
    """The password to use and whether it is new."""
    if stored is not None and stored.password is not None and \
            stored.annotations.get(ROTATION_ANNOTATION) == (rotation or ""):
        return stored.password, False
    return secrets.token_urlsafe(32), True


def amqp_urls(spec: ChannelLayerSpec, password: str) -> list[str]:
    """One URL per host, in the spec's order, with the user's credentials and the vhost."""
    scheme, port = ("amqps", 5671) if spec.tls else ("amqp", 5672)
    auth = f"{quote(spec.user, safe='')}:{quote(password, safe='')}"
    vhost = quote(spec.vhost, safe="")
    return [f"{scheme}://{auth}@{host if ':' in host else f'{host}:{port}'}/{vhost}"
            for host in spec.amqp_hosts]


def channel_layers(spec: ChannelLayerSpec, password: str) -> dict[str, Any]:
    """The whole ``CHANNEL_LAYERS`` setting, limits left to the operator's policies."""
    return {"default": {"BACKEND": BACKEND, "CONFIG": {
        "hosts": amqp_urls(spec, password),
        "prefix": spec.prefix,
        "expiry": spec.expiry,
        "capacity": spec.capacity,
        "queue_type": spec.queue_type,
        "queue_limits": "policy",
    }}}


def secret_data(spec: ChannelLayerSpec, password: str, ca: str | None = None) -> dict[str, str]:
    """The contract's keys and their plain values."""
    data = {
        "AMQP_CHANNELS_URL": ",".join(amqp_urls(spec, password)),
        "AMQP_CHANNELS_LAYERS": json.dumps(channel_layers(spec, password), sort_keys=True),
    }
    if ca:
        data["ca.crt"] = ca
    return data


def secret_manifest(spec: ChannelLayerSpec, data: Mapping[str, str],
                    made: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret object to write, values base64-encoded as the API returns them; ``made``
    (the names on the broker) is recorded so a later run can remove what a rename left."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.secret_name,
            "namespace": spec.namespace,
            "labels": {"app.kubernetes.io/managed-by": "amqp-channels-operator",
                       "amqp-channels.io/channellayer": spec.name},
            "annotations": {ROTATION_ANNOTATION: spec.password_rotation or "",
                            MADE_ANNOTATION: json.dumps(made, sort_keys=True)},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
