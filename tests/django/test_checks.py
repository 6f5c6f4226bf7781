"""System checks: CONFIG validation (E001) and the deploy-time broker probe (E002/E003)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test.utils import override_settings

from tools.rabbitmq_node import RabbitMQNode

BACKEND = "amqp_channels.layer.AMQPChannelLayer"


def layers(**config: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": BACKEND, "CONFIG": config}}


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def ours(*, deploy: bool = False) -> list[Any]:
    return run_checks(tags=["amqp_channels"], include_deployment_checks=deploy)


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def url_for(rabbitmq: RabbitMQNode, name: str, password: str) -> str:
    return f"amqp://{name}:{password}@127.0.0.1:{rabbitmq.port}/"


def test_good_config_passes_both_checks(rabbitmq: RabbitMQNode, prefix: str) -> None:
    """A valid CONFIG pointing at a working broker yields no message, deploy checks included."""
    with override_settings(CHANNEL_LAYERS=layers(hosts=[rabbitmq.url], prefix=prefix)):
        assert ours(deploy=True) == []


def test_other_backends_are_ignored() -> None:
    """Entries that use another BACKEND are none of our business."""
    other = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                         "CONFIG": {"bogus": 1}}}
    with override_settings(CHANNEL_LAYERS=other):
        assert ours(deploy=True) == []


@pytest.mark.parametrize("config, words", [
    pytest.param({"hots": ["amqp://x/"]}, "unknown CONFIG key(s) 'hots'", id="unknown-key"),
    pytest.param({"hosts": ["http://x/"]}, "not an amqp:// or amqps:// URL", id="bad-url"),
    pytest.param({"expiry": 0}, "'expiry' must be greater than 0", id="bad-value"),
    pytest.param({"capacity": "10"}, "'capacity' must be an integer", id="bad-type"),
])
def test_bad_config_is_e001_naming_alias_and_problem(config: dict[str, Any], words: str
                                                     ) -> None:
    """Whatever the layer would reject at construction is one E001 line naming the alias."""
    with override_settings(CHANNEL_LAYERS=layers(**config)):
        messages = ours()
    assert ids(messages) == ["amqp_channels.E001"]
    assert messages[0].msg.startswith("CHANNEL_LAYERS['default']: ")
    assert words in messages[0].msg and "\n" not in messages[0].msg


def test_bad_config_is_not_probed() -> None:
    """An invalid entry gets its E001 only, not a second error from the deploy check."""
    with override_settings(CHANNEL_LAYERS=layers(prefix="bad prefix")):
        assert ids(ours(deploy=True)) == ["amqp_channels.E001"]


def test_unreachable_broker_fails_the_deploy_check(prefix: str) -> None:
    """Nothing listening at the only host: E002 names the alias, the address and why."""
    port = refused_port()
    config = layers(hosts=[f"amqp://guest:secret@127.0.0.1:{port}/"], prefix=prefix)
    with override_settings(CHANNEL_LAYERS=config):
        assert ours() == []  # the network is only touched by --deploy
        messages = ours(deploy=True)
    assert ids(messages) == ["amqp_channels.E002"]
    assert f"cannot reach RabbitMQ at 127.0.0.1:{port}: Connection refused" in messages[0].msg
    assert "secret" not in messages[0].msg


def test_wrong_password_fails_clearly(rabbitmq: RabbitMQNode, user: tuple[str, str],
                                      prefix: str) -> None:
    """A refused login is E002 saying which user the broker refused."""
    name, _password = user
    config = layers(hosts=[url_for(rabbitmq, name, "wrong")], prefix=prefix)
    with override_settings(CHANNEL_LAYERS=config):
        messages = ours(deploy=True)
    assert ids(messages) == ["amqp_channels.E002"]
    assert f"refused the login of user {name!r}" in messages[0].msg
    assert "ACCESS_REFUSED" in messages[0].msg


def test_missing_permissions_fail_clearly(rabbitmq: RabbitMQNode, user: tuple[str, str],
                                          prefix: str) -> None:
    """A user who may log in but not declare under the prefix gets E003 naming the refusal."""
    name, password = user
    rabbitmq.ctl("set_permissions", "-p", "/", name, "^$", "^$", "^$")
    config = layers(hosts=[url_for(rabbitmq, name, password)], prefix=prefix)
    with override_settings(CHANNEL_LAYERS=config):
        messages = ours(deploy=True)
    assert ids(messages) == ["amqp_channels.E003"]
    assert f"user {name!r} lacks a permission" in messages[0].msg
    assert "ACCESS_REFUSED" in messages[0].msg and prefix in messages[0].msg


def test_no_vhost_access_fails_clearly(rabbitmq: RabbitMQNode, user: tuple[str, str],
                                       prefix: str) -> None:
    """A user without any permission on the vhost is refused at login: E002."""
    name, password = user
    config = layers(hosts=[url_for(rabbitmq, name, password)], prefix=prefix)
    with override_settings(CHANNEL_LAYERS=config):
        messages = ours(deploy=True)
    assert ids(messages) == ["amqp_channels.E002"]
    assert f"refused user {name!r} access to vhost '/'" in messages[0].msg


def test_one_dead_host_of_two_is_a_warning(rabbitmq: RabbitMQNode, prefix: str) -> None:
    """With a working fallback the layer runs: the dead host is W001, not an error."""
    dead = f"amqp://guest:guest@127.0.0.1:{refused_port()}/"
    with override_settings(CHANNEL_LAYERS=layers(hosts=[dead, rabbitmq.url], prefix=prefix)):
        assert ids(ours(deploy=True)) == ["amqp_channels.W001"]
