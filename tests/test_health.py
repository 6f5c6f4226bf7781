"""``python -m amqp_channels.health``, the readiness check of the Helm chart, run as the probe
runs it: a real subprocess against a real broker that the tests stop, refuse or mute."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tools.rabbitmq_node import RabbitMQNode

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_health(*args: str, timeout: float = 3.0, cwd: Path = ROOT,
               **env: str) -> tuple[int, str, float]:
    """(exit status, stdout, seconds taken) of the health check with only ``env`` set."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AMQP_CHANNELS_", "DJANGO_SETTINGS_MODULE"))}
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "amqp_channels.health",
                           "--timeout", str(timeout), *args],
                          env={**environ, **env}, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout + 30)
    return done.returncode, done.stdout, time.monotonic() - started


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_healthy_with_the_broker_up(own_rabbitmq: RabbitMQNode, prefix: str) -> None:
    """With the contract's variables and a running broker: exit 0 and one line saying so."""
    status, out, _ = run_health(AMQP_CHANNELS_URL=own_rabbitmq.url, AMQP_CHANNELS_PREFIX=prefix)
    assert (status, out.count("\n")) == (0, 1)
    assert out.startswith("healthy: ") and repr(prefix) in out


def test_declares_the_group_router_the_layer_would(own_rabbitmq: RabbitMQNode,
                                                   prefix: str) -> None:
    """On a fresh prefix the router does not exist yet; the check declares it like the layer
    (a transient direct exchange), so a second check finds it passively."""
    for _ in range(2):
        status, out, _ = run_health(AMQP_CHANNELS_URL=own_rabbitmq.url,
                                    AMQP_CHANNELS_PREFIX=prefix)
        assert status == 0, out
    router = own_rabbitmq.management_get(f"/api/exchanges/%2F/{quote(prefix)}.groups")
    assert (router["type"], router["durable"], router["auto_delete"]) == ("direct", False, False)


def test_healthy_from_django_settings(own_rabbitmq: RabbitMQNode, prefix: str,
                                      tmp_path: Path) -> None:
    """``--settings`` reads CHANNEL_LAYERS from a Django settings module, alias included."""
    (tmp_path / "probe_settings.py").write_text(
        "CHANNEL_LAYERS = {'chat': {'BACKEND': 'amqp_channels.layer.AMQPChannelLayer',\n"
        f"    'CONFIG': {{'hosts': [{own_rabbitmq.url!r}], 'prefix': {prefix!r}}}}}}}\n")
    status, out, _ = run_health("--settings", "probe_settings", "--alias", "chat",
                                cwd=tmp_path)
    assert status == 0, out


def test_one_dead_host_of_two_is_still_healthy(own_rabbitmq: RabbitMQNode, prefix: str,
                                               silent_port: int) -> None:
    """The layer fails over to the host that works, so the pod stays ready."""
    dead = f"amqp://guest:guest@127.0.0.1:{silent_port}/"
    status, out, _ = run_health(AMQP_CHANNELS_URL=f"{dead},{own_rabbitmq.url}",
                                AMQP_CHANNELS_PREFIX=prefix, timeout=1.0)
    assert status == 0, out


def test_unhealthy_with_bad_credentials(own_rabbitmq: RabbitMQNode) -> None:
    """A refused login is unhealthy, named as such, password not shown."""
    url = f"amqp://guest:wrong-pass@127.0.0.1:{own_rabbitmq.port}/"
    status, out, _ = run_health(AMQP_CHANNELS_URL=url)
    assert status == 1
    assert out.startswith("unhealthy: ") and "refused the login of user 'guest'" in out
    assert "wrong-pass" not in out


def test_unhealthy_with_an_unknown_vhost(own_rabbitmq: RabbitMQNode) -> None:
    status, out, _ = run_health(AMQP_CHANNELS_URL=own_rabbitmq.url + "no-such-vhost")
    assert status == 1 and "vhost 'no-such-vhost'" in out, out


def test_unhealthy_and_quick_with_the_broker_down(own_rabbitmq: RabbitMQNode) -> None:
    """With RabbitMQ stopped the port refuses connections: exit 1 at once, not at timeout."""
    own_rabbitmq.stop_app()
    try:
        status, out, took = run_health(AMQP_CHANNELS_URL=own_rabbitmq.url, timeout=5.0)
    finally:
        own_rabbitmq.start_app()
    assert status == 1 and "Connection refused" in out, out
    assert took < 5.0


def test_unhealthy_within_the_timeout_when_the_broker_is_mute(silent_port: int) -> None:
    """A host that accepts TCP but never speaks AMQP cannot make the probe hang."""
    status, out, took = run_health(
        AMQP_CHANNELS_URL=f"amqp://guest:guest@127.0.0.1:{silent_port}/", timeout=1.0)
    assert status == 1 and "within 1.0s" in out, out
    assert took < 1.0 + 1.0 + 5.0  # the bound, the 1 s close, interpreter start-up


@pytest.mark.parametrize("env, args, words", [
    pytest.param({}, (), "AMQP_CHANNELS_URL", id="no-connection-variables"),
    pytest.param({"AMQP_CHANNELS_LAYERS": "{oops"}, (), "AMQP_CHANNELS_LAYERS is not valid JSON",
                 id="bad-json"),
    pytest.param({"AMQP_CHANNELS_URL": "amqp://h/", "AMQP_CHANNELS_PREFIX": "bad prefix"}, (),
                 "CONFIG 'prefix' must be", id="invalid-config"),
    pytest.param({"AMQP_CHANNELS_URL": "amqp://h/"}, ("--alias", "other"),
                 "has no layer 'other'", id="unknown-alias"),
    pytest.param({}, ("--settings", "no_such_settings_module"),
                 "cannot load Django settings 'no_such_settings_module'", id="missing-settings"),
])
def test_unusable_settings_are_unhealthy_with_the_reason(env: dict[str, str],
                                                         args: tuple[str, ...],
                                                         words: str) -> None:
    """Settings the layer could not start with are exit 1 and one line that says why."""
    status, out, _ = run_health(*args, **env)
    assert status == 1 and out.startswith("unhealthy: ") and out.count("\n") == 1, out
    assert words in out
