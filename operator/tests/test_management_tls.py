"""An https management URL, verified with the CA the spec names (spec.management.caSecretRef
for the operator, --ca-file for the one-shot command), against a node whose management
listener uses a self-made CA."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from conftest import NAMESPACE, MemorySecrets
from test_cli import cli

from amqp_channels_operator import handlers
from amqp_channels_operator.management import Management
from tools.rabbitmq_node import RabbitMQNode

Resource = dict[str, Any]
CA_SECRET = "rabbitmq-ca"


@pytest.fixture
def over_https(tls_rabbitmq: RabbitMQNode, make_resource: Callable[..., Resource]
               ) -> Resource:
    """A resource whose management URL is the TLS node's https listener."""
    resource = make_resource(amqp={"hosts": [f"127.0.0.1:{tls_rabbitmq.port}"]})
    resource["spec"]["management"]["url"] = tls_rabbitmq.management_tls_url
    return resource


@pytest.fixture
def tls_admin(tls_rabbitmq: RabbitMQNode) -> Management:
    return Management(tls_rabbitmq.management_tls_url, "guest", "guest",
                      ca_data=tls_rabbitmq.ca_file.read_text())


def test_operator_verifies_https_with_the_ca_secret(
        over_https: Resource, tls_rabbitmq: RabbitMQNode, tls_admin: Management,
        secrets: MemorySecrets) -> None:
    """With caSecretRef the reconcile runs over https; without it the certificate is
    refused as untrusted, a permanent error (no retry can fix it)."""
    saved = handlers.dependencies
    handlers.dependencies = handlers.Dependencies(secrets=secrets)
    log = logging.getLogger("test-management-tls")
    try:
        patch = kopf.Patch()
        with pytest.raises(kopf.PermanentError, match="CA"):
            handlers.reconcile_handler(spec=over_https["spec"], meta=over_https["metadata"],
                                       status={}, patch=patch, logger=log)
        assert patch["status"]["conditions"][0]["reason"] == "UntrustedCertificate"

        secrets.put({"metadata": {"name": CA_SECRET, "namespace": NAMESPACE},
                     "stringData": {"ca.crt": tls_rabbitmq.ca_file.read_text()}})
        over_https["spec"]["management"]["caSecretRef"] = {"name": CA_SECRET}
        patch = kopf.Patch()
        handlers.reconcile_handler(spec=over_https["spec"], meta=over_https["metadata"],
                                   status={}, patch=patch, logger=log)
        assert patch["status"]["conditions"][0]["status"] == "True"
        assert tls_admin.get(tls_admin.vhost_path(over_https["spec"]["vhost"])) is not None
        handlers.delete_handler(spec=over_https["spec"], meta=over_https["metadata"],
                                status=patch["status"], patch=kopf.Patch(), logger=log)
    finally:
        handlers.dependencies = saved
    assert tls_admin.get(tls_admin.vhost_path(over_https["spec"]["vhost"])) is None


def test_one_shot_command_verifies_https_with_ca_file(
        over_https: Resource, tls_rabbitmq: RabbitMQNode, tls_admin: Management,
        tmp_path: Path) -> None:
    """--ca-file makes the https management URL work; without it the command says the
    certificate is not trusted and exits 1."""
    source = tmp_path / "channellayer.yaml"
    source.write_text(yaml.safe_dump(over_https))
    vhost = over_https["spec"]["vhost"]

    untrusted = cli("reconcile", "-f", str(source))
    assert untrusted.returncode == 1
    assert "certificate is not trusted" in untrusted.stderr

    applied = cli("reconcile", "-f", str(source), "--ca-file", str(tls_rabbitmq.ca_file))
    assert applied.returncode == 0, applied.stderr
    assert tls_admin.get(tls_admin.vhost_path(vhost)) is not None
    deleted = cli("reconcile", "-f", str(source), "--ca-file", str(tls_rabbitmq.ca_file),
                  "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert tls_admin.get(tls_admin.vhost_path(vhost)) is None
