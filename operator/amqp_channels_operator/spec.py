"""A ChannelLayer resource read into a checked, defaulted ``ChannelLayerSpec``.

In a cluster the API server applies the CRD's defaults and schema; the one-shot command has
no API server, so the same defaults live here too and every value the reconcile relies on is
checked once, raising ``InvalidSpec`` that names the field. The layer's own checks
(``amqp_channels.layer.config``) judge the values that end up in its CONFIG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amqp_channels.layer.config import LayerConfig

from . import GROUP, KIND
from .errors import InvalidSpec

DELETION_POLICIES = ("Delete", "KeepVhost")


@dataclass(frozen=True)
class SecretRef:
    """A key-holding Secret in the resource's namespace."""

    name: str
    username_key: str = "username"
    password_key: str = "password"


@dataclass(frozen=True)
class ChannelLayerSpec:
    name: str
    namespace: str
    management_url: str
    admin_secret: SecretRef
    management_ca_secret: str | None
    amqp_hosts: tuple[str, ...]
    tls: bool
    amqp_ca_secret: str | None
    vhost: str
    user: str
    password_rotation: str | None
    prefix: str
    expiry: float
    capacity: int
    queue_type: str
    dead_letter_exchange: str | None
    secret_name: str
    deletion_policy: str

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> ChannelLayerSpec:
        """Read a whole ChannelLayer object (apiVersion, kind, metadata, spec)."""
        api_version = resource.get("apiVersion", "")
        if resource.get("kind") != KIND or not str(api_version).startswith(GROUP + "/"):
            raise InvalidSpec(f"expected a {KIND} of {GROUP}, got kind "
                              f"{resource.get('kind')!r} of {api_version!r}")
        meta = _mapping(resource, "metadata")
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidSpec("metadata.name is required")
        return cls.from_spec(_mapping(resource, "spec"), name=name,
                             namespace=str(meta.get("namespace") or "default"))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, name: str, namespace: str
                  ) -> ChannelLayerSpec:
        """Read ``spec`` of the resource ``namespace/name``."""
        management = _mapping(spec, "management", required=True)
        admin = _mapping(management, "adminSecretRef", required=True)
        amqp = _mapping(spec, "amqp", required=True)
        user = _mapping(spec, "user")
        channels = _mapping(spec, "channels")
        hosts = amqp.get("hosts")
        if not isinstance(hosts, list) or not hosts or not all(
                isinstance(h, str) and h for h in hosts):
            raise InvalidSpec("spec.amqp.hosts must be a non-empty list of host:port strings")
        vhost = _string(spec, "vhost", "spec.vhost")
        deletion_policy = spec.get("deletionPolicy", "Delete")
        if deletion_policy not in DELETION_POLICIES:
            raise InvalidSpec(f"spec.deletionPolicy must be one of {DELETION_POLICIES}, "
                              f"got {deletion_policy!r}")
        limits = _layer_limits(spec.get("prefix", "asgi"), channels)
        rotation = user.get("passwordRotation")
        dead_letter = _mapping(channels, "deadLetter").get("exchange")
        return cls(
            name=name,
            namespace=namespace,
            management_url=_string(management, "url", "spec.management.url"),
            admin_secret=SecretRef(
                name=_string(admin, "name", "spec.management.adminSecretRef.name"),
                username_key=str(admin.get("usernameKey", "username")),
                password_key=str(admin.get("passwordKey", "password")),
            ),
            management_ca_secret=_mapping(management, "caSecretRef").get("name"),
            amqp_hosts=tuple(hosts),
            tls=bool(amqp.get("tls", False)),
            amqp_ca_secret=_mapping(amqp, "caSecretRef").get("name"),
            vhost=vhost,
            user=str(user.get("name") or name),
            password_rotation=None if rotation is None else str(rotation),
            prefix=limits.prefix,
            expiry=limits.expiry,
            capacity=limits.capacity,
            queue_type=limits.queue_type,
            dead_letter_exchange=None if dead_letter is None else str(dead_letter),
            secret_name=str(spec.get("secretName") or f"{name}-amqp-channels"),
            deletion_policy=deletion_policy,
        )


def _layer_limits(prefix: Any, channels: Mapping[str, Any]) -> LayerConfig:
    """The layer's own checks of the values the Secret will hand it."""
    try:
        return LayerConfig.from_kwargs(
            prefix=prefix,
            expiry=channels.get("expiry", 60),
            capacity=channels.get("capacity", 100),
            queue_type=channels.get("queueType", "classic"),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(f"spec.prefix or spec.channels: {exc}") from exc


def _mapping(parent: Mapping[str, Any], key: str, *, required: bool = False
             ) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSpec(f"{key} must be an object, got {value!r}")
    return value


def _string(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"{path} must be a non-empty string, got {value!r}")
    return value
