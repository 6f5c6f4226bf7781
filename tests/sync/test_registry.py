"""get_publisher(alias) reads CHANNEL_LAYERS lazily and validates it like the layer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from amqp_channels.sync import SyncPublisher, get_publisher
from amqp_channels.sync.registry import reset

BACKEND = "amqp_channels.layer.AMQPChannelLayer"


@pytest.fixture
def override() -> Iterator[Any]:
    """``override_settings``, with Django configured if no other test module did it."""
    import django
    from django.conf import settings
    from django.test.utils import override_settings

    if not settings.configured:
        settings.configure(CHANNEL_LAYERS={})
        django.setup()
    yield override_settings
    reset()


def test_publisher_uses_the_alias_config(override: Any, rabbitmq, prefix: str) -> None:
    """The publisher of an alias has that alias's CONFIG, and is made once per process."""
    layers = {"default": {"BACKEND": BACKEND,
                          "CONFIG": {"hosts": [rabbitmq.url], "prefix": prefix}}}
    with override(CHANNEL_LAYERS=layers):
        publisher = get_publisher()
        assert isinstance(publisher, SyncPublisher)
        assert publisher.config.prefix == prefix
        assert get_publisher("default") is publisher
        publisher.send("registry", {"type": "ok"})


@pytest.mark.parametrize(("layers", "error"), [
    pytest.param({}, ValueError, id="unknown-alias"),
    pytest.param({"default": {"BACKEND": BACKEND, "CONFIG": {"prefix": "bad prefix"}}},
                 ValueError, id="bad-prefix"),
    pytest.param({"default": {"BACKEND": BACKEND, "CONFIG": {"capacity": "ten"}}},
                 TypeError, id="bad-capacity"),
])
def test_bad_settings_raise_like_the_layer(override: Any, layers: dict[str, Any],
                                           error: type[Exception]) -> None:
    """A missing alias or a CONFIG the layer would refuse raises, naming the problem."""
    with override(CHANNEL_LAYERS=layers), pytest.raises(error):
        get_publisher()
