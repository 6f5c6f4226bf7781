"""CONFIG keys are checked at construction, with errors that name the key."""

from __future__ import annotations

import re
import ssl

import pytest

from amqp_channels.layer import AMQPChannelLayer
from amqp_channels.layer.config import LayerConfig


def test_defaults_match_the_documented_ones() -> None:
    """A layer built with no CONFIG uses the documented defaults, without an event loop."""
    layer = AMQPChannelLayer()
    assert layer.config.hosts == ("amqp://guest:guest@localhost:5672/",)
    assert (layer.config.prefix, layer.expiry, layer.capacity) == ("asgi", 60, 100)
    assert layer.group_expiry == 86400
    assert layer.config.queue_type == "classic"
    assert layer.config.serializer == "msgpack"
    assert layer.config.max_message_size >= 1024 * 1024


@pytest.mark.parametrize(
    ("config", "error", "mentions"),
    [
        pytest.param({"hostz": ["amqp://x/"]}, ValueError, "hostz", id="unknown-key"),
        pytest.param({"hosts": []}, TypeError, "hosts", id="hosts-empty"),
        pytest.param({"hosts": ["redis://x:6379"]}, ValueError, "hosts", id="hosts-scheme"),
        pytest.param({"hosts": [42]}, TypeError, "hosts", id="hosts-not-str"),
        pytest.param({"prefix": "has space"}, ValueError, "prefix", id="prefix-chars"),
        pytest.param({"expiry": "60"}, TypeError, "expiry", id="expiry-str"),
        pytest.param({"expiry": 0}, ValueError, "expiry", id="expiry-zero"),
        pytest.param({"capacity": 1.5}, TypeError, "capacity", id="capacity-float"),
        pytest.param({"capacity": True}, TypeError, "capacity", id="capacity-bool"),
        pytest.param({"channel_capacity": [1]}, TypeError, "channel_capacity", id="cc-list"),
        pytest.param({"channel_capacity": {"a*": 0}}, ValueError, "channel_capacity",
                     id="cc-zero"),
        pytest.param({"queue_type": "stream"}, ValueError, "queue_type", id="queue-type"),
        pytest.param({"queue_limits": "both"}, ValueError, "queue_limits", id="queue-limits"),
        pytest.param({"serializer": "pickle"}, ValueError, "serializer", id="serializer"),
        pytest.param({"ssl": "yes"}, TypeError, "ssl", id="ssl-str"),
        pytest.param({"ssl": {"ca": "x"}}, ValueError, "ssl", id="ssl-unknown-option"),
        pytest.param({"symmetric_encryption_keys": "k"}, TypeError,
                     "symmetric_encryption_keys", id="keys-str"),
        pytest.param({"send_timeout": -1}, ValueError, "send_timeout", id="send-timeout"),
        pytest.param({"max_message_size": 0}, ValueError, "max_message_size", id="max-size"),
        pytest.param({"group_exchanges": "no"}, TypeError, "group_exchanges",
                     id="group-exchanges-str"),
    ],
)
def test_bad_config_names_the_key(config: dict[str, object], error: type[Exception],
                                  mentions: str) -> None:
    """Every wrong key or value is refused at construction with the key in the message."""
    with pytest.raises(error, match=re.escape(mentions)):
        AMQPChannelLayer(**config)


def test_password_is_not_echoed_in_errors() -> None:
    """A bad URL in hosts is reported without its password."""
    with pytest.raises(ValueError) as info:
        AMQPChannelLayer(hosts=["http://user:secret@host/"])
    assert "secret" not in str(info.value)


def test_channel_capacity_takes_globs_and_regexes_first_match_wins() -> None:
    """channel_capacity works as in channels_redis: globs or compiled regexes, in order."""
    config = LayerConfig.from_kwargs(
        capacity=10,
        channel_capacity={"http.*": 200, re.compile(r"^thumb"): 5, "specific.*!": 50},
    )
    assert config.capacity_for("http.request") == 200
    assert config.capacity_for("thumbnails") == 5
    assert config.capacity_for("other") == 10
    # Process-specific channels match on the part up to and including '!'.
    assert config.capacity_for("specific.abc!def") == 50


def test_ssl_dict_becomes_a_context() -> None:
    """An ssl dict of options is turned into an SSLContext at construction."""
    config = LayerConfig.from_kwargs(ssl={"verify": False})
    assert isinstance(config.ssl, ssl.SSLContext)
    assert config.ssl.verify_mode == ssl.CERT_NONE


def test_group_expiry_zero_or_none_turns_it_off() -> None:
    """group_expiry 0 or None disables membership expiry."""
    assert LayerConfig.from_kwargs(group_expiry=0).group_expiry is None
    assert LayerConfig.from_kwargs(group_expiry=None).group_expiry is None


def test_single_host_string_is_accepted() -> None:
    """A lone URL string is taken as a one-host list."""
    assert LayerConfig.from_kwargs(hosts="amqp://h/").hosts == ("amqp://h/",)
