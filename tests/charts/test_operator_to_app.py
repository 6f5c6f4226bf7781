"""The operator's Secret through the app chart into the layer: the Secret's name and keys
the operator writes are the ones the chart reads, and what they give the layer is accepted
by it (the contract of docs/deployment-contract.md, end to end without a cluster)."""

from __future__ import annotations

import ssl
from pathlib import Path

import yaml

from amqp_channels.amqp.url import parse_url
from amqp_channels.layer.config import LayerConfig
from amqp_channels.settings import channel_layers_from_env
from amqp_channels_operator.connection_secret import secret_data
from amqp_channels_operator.spec import ChannelLayerSpec

from .rendering import ROOT, containers, env_of, files_of, render, rendered, values_of

CHART = "amqp-channels"
EXAMPLES = ROOT / "operator" / "examples"


def example(name: str) -> ChannelLayerSpec:
    return ChannelLayerSpec.from_resource(yaml.safe_load((EXAMPLES / name).read_text()))


def test_channel_layer_scenario_reads_the_operators_secret() -> None:
    """broker.channelLayer=chat (the operator-secret scenario) reads the Secret the operator
    writes for the ChannelLayer chat, and the layer takes its setting as it is."""
    spec = example("channellayer.yaml")
    scenario = values_of(ROOT / "charts" / CHART / "ci" / "operator-secret-values.yaml")
    assert scenario["broker"]["channelLayer"] == spec.name
    secrets = {spec.secret_name: secret_data(spec, "pw/+:")}
    for deployment, container in containers(rendered(CHART, "operator-secret")):
        assert files_of(deployment, container, secrets) == {}
        config = channel_layers_from_env(env_of(container, secrets))["default"]["CONFIG"]
        layer = LayerConfig.from_kwargs(**config)
        assert layer.prefix == spec.prefix and layer.queue_limits == "policy"
        [url] = layer.hosts
        params = parse_url(url, heartbeat=60)
        assert (params.username, params.password, params.vhost, params.address) == (
            spec.user, "pw/+:", spec.vhost, "rabbitmq.infra.svc:5672")


def test_renamed_tls_secret_with_its_ca_reaches_the_layer(tmp_path: Path) -> None:
    """The full example (secretName, amqps, a CA): broker.operatorSecret plus tls.enabled
    mount the Secret's ca.crt where AMQP_CHANNELS_CA_FILE points, and the layer builds."""
    spec = example("channellayer-full.yaml")
    ca = Path(ssl.get_default_verify_paths().cafile or "").read_text()  # any valid PEM bundle
    secrets = {spec.secret_name: secret_data(spec, "pw", ca=ca)}
    values = {**values_of(ROOT / "charts" / CHART / "ci" / "defaults-values.yaml"),
              "broker": {"operatorSecret": spec.secret_name, "tls": {"enabled": True}}}
    for deployment, container in containers(render(CHART, values)):
        files = files_of(deployment, container, secrets)
        config = channel_layers_from_env(env_of(container, secrets))["default"]["CONFIG"]
        assert files == {config["ssl"]["cafile"]: ca}
        mounted = tmp_path / "ca.crt"  # the pod's file, here
        mounted.write_text(files[config["ssl"]["cafile"]])
        layer = LayerConfig.from_kwargs(**{**config, "ssl": {"cafile": str(mounted)}})
        assert layer.ssl is not None and layer.queue_type == "quorum"
        assert all(url.startswith("amqps://") for url in layer.hosts)
