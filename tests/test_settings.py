"""CHANNEL_LAYERS from the environment, per docs/deployment-contract.md (pure logic)."""

from __future__ import annotations

import json

import pytest

from amqp_channels.layer import AMQPChannelLayer
from amqp_channels.layer.config import LayerConfig
from amqp_channels.settings import BACKEND, channel_layers_from_env

URL = "amqp://app:secret@rabbit-0.infra:5672/chat"


def test_url_alone_gives_a_working_default_layer() -> None:
    """One URL is enough: the default alias uses our backend with that host."""
    layers = channel_layers_from_env({"AMQP_CHANNELS_URL": URL})
    assert layers == {"default": {"BACKEND": BACKEND, "CONFIG": {"hosts": [URL]}}}
    assert LayerConfig.from_kwargs(**layers["default"]["CONFIG"]).hosts == (URL,)


def test_comma_separated_urls_become_hosts_in_order() -> None:
    """Several URLs (one per cluster node) become ``hosts``, spaces and empty items ignored."""
    second = URL.replace("rabbit-0", "rabbit-1")
    layers = channel_layers_from_env({"AMQP_CHANNELS_URL": f"{URL}, {second},"})
    assert layers["default"]["CONFIG"]["hosts"] == [URL, second]


def test_prefix_variable_sets_the_prefix() -> None:
    layers = channel_layers_from_env({"AMQP_CHANNELS_URL": URL, "AMQP_CHANNELS_PREFIX": "chat"})
    assert layers["default"]["CONFIG"]["prefix"] == "chat"


def test_json_setting_wins_over_the_url() -> None:
    """The operator's full setting is used as it is; the URL variable is then ignored."""
    setting = {"default": {"BACKEND": BACKEND,
                           "CONFIG": {"hosts": [URL], "prefix": "op", "queue_type": "quorum"}}}
    layers = channel_layers_from_env({"AMQP_CHANNELS_LAYERS": json.dumps(setting),
                                      "AMQP_CHANNELS_URL": "amqp://other/"})
    assert layers == setting


def test_ca_file_becomes_ssl_cafile_for_the_url_form() -> None:
    layers = channel_layers_from_env({"AMQP_CHANNELS_URL": URL.replace("amqp:", "amqps:"),
                                      "AMQP_CHANNELS_CA_FILE": "/etc/amqp-channels/tls/ca.crt"})
    assert layers["default"]["CONFIG"]["ssl"] == {"cafile": "/etc/amqp-channels/tls/ca.crt"}


def test_ca_file_joins_ssl_options_of_the_json_form() -> None:
    """Other ssl options from the JSON stay; the CA file is added to them."""
    setting = {"default": {"BACKEND": BACKEND,
                           "CONFIG": {"hosts": [URL], "ssl": {"check_hostname": False}}}}
    layers = channel_layers_from_env({"AMQP_CHANNELS_LAYERS": json.dumps(setting),
                                      "AMQP_CHANNELS_CA_FILE": "/ca.crt"})
    assert layers["default"]["CONFIG"]["ssl"] == {"check_hostname": False, "cafile": "/ca.crt"}


def test_overrides_from_code_win_in_the_chosen_alias() -> None:
    """Keys the application sets in code win; other aliases are left alone."""
    setting = {"main": {"BACKEND": BACKEND, "CONFIG": {"hosts": [URL], "expiry": 60}},
               "other": {"BACKEND": BACKEND, "CONFIG": {"hosts": [URL], "expiry": 60}}}
    layers = channel_layers_from_env({"AMQP_CHANNELS_LAYERS": json.dumps(setting)},
                                     alias="main", expiry=30, serializer="json")
    assert layers["main"]["CONFIG"] == {"hosts": [URL], "expiry": 30, "serializer": "json"}
    assert layers["other"]["CONFIG"]["expiry"] == 60


def test_empty_json_variable_counts_as_unset() -> None:
    """An empty key in the Secret (envFrom sets it to "") falls back to the URL."""
    layers = channel_layers_from_env({"AMQP_CHANNELS_URL": URL, "AMQP_CHANNELS_LAYERS": ""})
    assert layers["default"]["CONFIG"]["hosts"] == [URL]


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMQP_CHANNELS_LAYERS", raising=False)
    monkeypatch.setenv("AMQP_CHANNELS_URL", URL)
    assert channel_layers_from_env()["default"]["CONFIG"]["hosts"] == [URL]


def test_the_result_builds_a_layer() -> None:
    """The setting is what Channels passes to the backend: it constructs without a broker."""
    config = channel_layers_from_env({"AMQP_CHANNELS_URL": URL,
                                      "AMQP_CHANNELS_PREFIX": "chat"})["default"]["CONFIG"]
    assert AMQPChannelLayer(**config).config.prefix == "chat"


@pytest.mark.parametrize("environ, words", [
    pytest.param({}, "neither AMQP_CHANNELS_LAYERS nor AMQP_CHANNELS_URL is set", id="nothing"),
    pytest.param({"AMQP_CHANNELS_URL": " , "}, "AMQP_CHANNELS_URL", id="empty-url"),
    pytest.param({"AMQP_CHANNELS_LAYERS": "{bad"}, "AMQP_CHANNELS_LAYERS is not valid JSON",
                 id="bad-json"),
    pytest.param({"AMQP_CHANNELS_LAYERS": "[1]"}, "AMQP_CHANNELS_LAYERS must be a JSON object",
                 id="json-list"),
    pytest.param({"AMQP_CHANNELS_LAYERS": '{"other": {}}'},
                 "AMQP_CHANNELS_LAYERS has no layer 'default'", id="missing-alias"),
    pytest.param({"AMQP_CHANNELS_LAYERS": '{"default": {"CONFIG": 3}}'},
                 "'default'.CONFIG must be a JSON object", id="config-not-object"),
])
def test_bad_environment_is_a_value_error_naming_the_variable(environ: dict[str, str],
                                                              words: str) -> None:
    """Each mistake is one ValueError that names the variable to fix."""
    with pytest.raises(ValueError, match="AMQP_CHANNELS_") as caught:
        channel_layers_from_env(environ)
    assert words in str(caught.value)
