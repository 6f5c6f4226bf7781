"""The CRD's schema accepts the example resources and refuses bad ones, and its defaults are
the ones the one-shot command applies itself."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from amqp_channels_operator.connection_secret import StoredSecret
from amqp_channels_operator.spec import ChannelLayerSpec
from tests.charts.rendering import validate

OPERATOR = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((OPERATOR / "examples").glob("channellayer*.yaml"))
ADMIN_SECRET = OPERATOR / "examples" / "admin-secret.yaml"


def schema() -> dict[str, Any]:
    crd = yaml.safe_load((OPERATOR / "crd" / "channellayer.yaml").read_text())
    [version] = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def example(name: str = "channellayer.yaml") -> dict[str, Any]:
    return yaml.safe_load((OPERATOR / "examples" / name).read_text())


# Kubernetes structural schemas are OpenAPI 3.0, whose keywords are draft 4's
# (e.g. a boolean exclusiveMinimum).
VALIDATOR = jsonschema.Draft4Validator(schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    """Every example ChannelLayer passes the schema and reads as a spec."""
    resource = yaml.safe_load(path.read_text())
    VALIDATOR.validate(resource)
    ChannelLayerSpec.from_resource(resource)


def test_admin_secret_example_is_a_valid_secret() -> None:
    assert validate(yaml.safe_load(ADMIN_SECRET.read_text()))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_find_their_admin_keys_in_the_example_secret(path: Path) -> None:
    """Applied together, the examples work: each names the example admin Secret, in its own
    namespace, and the keys it reads are keys that Secret holds."""
    spec = ChannelLayerSpec.from_resource(yaml.safe_load(path.read_text()))
    manifest = yaml.safe_load(ADMIN_SECRET.read_text())
    assert (spec.admin_secret.name, spec.namespace) == (
        manifest["metadata"]["name"], manifest["metadata"]["namespace"])
    held = StoredSecret.from_manifest(manifest).data
    assert {spec.admin_secret.username_key, spec.admin_secret.password_key} <= held.keys()


@pytest.mark.parametrize(("field", "value"), [
    pytest.param(("vhost",), None, id="vhost-missing"),
    pytest.param(("deletionPolicy",), "Sometimes", id="deletion-policy"),
    pytest.param(("channels", "capacity"), 0, id="capacity-zero"),
    pytest.param(("channels", "expiry"), 0, id="expiry-zero"),
    pytest.param(("channels", "queueType"), "stream", id="queue-type"),
    pytest.param(("amqp", "hosts"), [], id="no-hosts"),
    pytest.param(("amqp", "hosts"), ["amqp://x:5672"], id="host-is-a-url"),
    pytest.param(("management", "url"), "rabbitmq:15672", id="management-not-http"),
    pytest.param(("prefix",), "has space", id="prefix-chars"),
])
def test_bad_resources_are_refused(field: tuple[str, ...], value: Any) -> None:
    """The API server would refuse these before the operator ever saw them."""
    resource = copy.deepcopy(example("channellayer-full.yaml"))
    parent = resource["spec"]
    for key in field[:-1]:
        parent = parent[key]
    if value is None:
        del parent[field[-1]]
    else:
        parent[field[-1]] = value
    assert not VALIDATOR.is_valid(resource)


def test_crd_defaults_match_the_one_shot_defaults() -> None:
    """Without an API server the spec reader fills in the same defaults as the CRD."""
    spec_schema = schema()["properties"]["spec"]["properties"]
    channels = spec_schema["channels"]["properties"]
    parsed = ChannelLayerSpec.from_resource(example())
    assert parsed.prefix == spec_schema["prefix"]["default"]
    assert parsed.deletion_policy == spec_schema["deletionPolicy"]["default"]
    assert parsed.expiry == channels["expiry"]["default"]
    assert parsed.capacity == channels["capacity"]["default"]
    assert parsed.queue_type == channels["queueType"]["default"]
    assert parsed.tls is spec_schema["amqp"]["properties"]["tls"]["default"]
