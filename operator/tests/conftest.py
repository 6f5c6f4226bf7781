"""Fixtures: the suite's private RabbitMQ node, a ChannelLayer resource aimed at it, and a
Secret store in memory standing in for the Kubernetes API (the broker side is real)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import tests.conftest as shared_fixtures
from amqp_channels_operator.connection_secret import StoredSecret
from amqp_channels_operator.management import Management
from amqp_channels_operator.spec import ChannelLayerSpec
from tools.rabbitmq_node import RabbitMQNode

rabbitmq = shared_fixtures.rabbitmq
prefix = shared_fixtures.prefix
tls_rabbitmq = shared_fixtures.tls_rabbitmq

NAMESPACE = "apps"
ADMIN_SECRET = "rabbitmq-admin"
Resource = dict[str, Any]


class MemorySecrets:
    """A SecretStore in memory: what the handlers would read and write in a cluster."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, manifest: dict[str, Any]) -> None:
        meta = manifest["metadata"]
        self.secrets[meta.get("namespace", NAMESPACE), meta["name"]] = copy.deepcopy(manifest)

    def read(self, namespace: str, name: str) -> StoredSecret | None:
        manifest = self.secrets.get((namespace, name))
        return None if manifest is None else StoredSecret.from_manifest(manifest)

    def write(self, manifest: dict[str, Any]) -> bool:
        meta = manifest["metadata"]
        if self.secrets.get((meta["namespace"], meta["name"])) == manifest:
            return False
        self.put(manifest)
        return True

    def delete(self, namespace: str, name: str) -> bool:
        return self.secrets.pop((namespace, name), None) is not None


@pytest.fixture
def admin(rabbitmq: RabbitMQNode) -> Management:
    """The management API as the node's administrator (guest, on loopback)."""
    return Management(rabbitmq.management_url, "guest", "guest")


@pytest.fixture
def make_resource(rabbitmq: RabbitMQNode, prefix: str, admin: Management
                  ) -> Iterator[Callable[..., Resource]]:
    """ChannelLayer resources aimed at the test node, each with its own vhost and user;
    whatever they made on the broker is removed after the test (under the names they were
    built with and those they have at the end: tests rename)."""
    made: list[Resource] = []
    built: list[Resource] = []

    def build(**spec: Any) -> Resource:
        name = f"{prefix}-{len(made)}"
        resource = {
            "apiVersion": "amqp-channels.io/v1alpha1", "kind": "ChannelLayer",
            "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
            "spec": {
                "management": {"url": rabbitmq.management_url,
                               "adminSecretRef": {"name": ADMIN_SECRET}},
                "amqp": {"hosts": [f"127.0.0.1:{rabbitmq.port}"]},
                "vhost": f"{name}-vhost", "prefix": prefix,
                "channels": {"expiry": 30, "capacity": 5},
                **spec,
            },
        }
        made.append(resource)
        built.append(copy.deepcopy(resource))
        return resource

    yield build
    for resource in made + built:
        layer = ChannelLayerSpec.from_resource(resource)
        admin.delete(admin.vhost_path(layer.vhost))
        admin.delete(admin.user_path(layer.user))


@pytest.fixture
def secrets() -> MemorySecrets:
    """A store holding the admin Secret the resources name."""
    store = MemorySecrets()
    store.put({"metadata": {"name": ADMIN_SECRET, "namespace": NAMESPACE},
               "stringData": {"username": "guest", "password": "guest"}})
    return store
