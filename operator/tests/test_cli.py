"""``python -m amqp_channels_operator reconcile``: the same reconcile without Kubernetes,
run as a user runs it (a subprocess, credentials from the environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from amqp_channels_operator.cli import LIVENESS, kopf_arguments
from amqp_channels_operator.management import Management
from tests.charts.rendering import of_kind, rendered

ROOT = Path(__file__).resolve().parents[2]
Resource = dict[str, Any]


def cli(*args: str, admin: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "operator")])}
    env.pop("RABBITMQ_ADMIN_USER", None)
    if admin:
        env.update(RABBITMQ_ADMIN_USER="guest", RABBITMQ_ADMIN_PASSWORD="guest")
    return subprocess.run([sys.executable, "-m", "amqp_channels_operator", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_one_shot_dry_run_then_apply_then_rerun_then_delete(
        make_resource: Callable[..., Resource], admin: Management, tmp_path: Path) -> None:
    """--dry-run changes nothing; a run applies and writes the Secret; a rerun with
    --secret-in has nothing to do; --delete removes it all."""
    resource = make_resource()
    vhost = resource["spec"]["vhost"]
    source = tmp_path / "channellayer.yaml"
    source.write_text(yaml.safe_dump(resource))
    secret = tmp_path / "secret.yaml"

    dry = cli("reconcile", "-f", str(source), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would: created vhost {vhost}" in dry.stderr.splitlines()
    assert yaml.safe_load(dry.stdout)["kind"] == "Secret"
    assert admin.get(admin.vhost_path(vhost)) is None

    applied = cli("reconcile", "-f", str(source), "-o", str(secret))
    assert applied.returncode == 0, applied.stderr
    assert admin.get(admin.vhost_path(vhost)) is not None
    written = yaml.safe_load(secret.read_text())
    assert set(written["data"]) == {"AMQP_CHANNELS_URL", "AMQP_CHANNELS_LAYERS"}

    rerun = cli("reconcile", "-f", str(source), "--secret-in", str(secret))
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.strip() == "no changes"
    assert yaml.safe_load(rerun.stdout)["data"] == written["data"]

    deleted = cli("reconcile", "-f", str(source), "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert admin.get(admin.vhost_path(vhost)) is None


def test_missing_admin_credentials_is_a_clear_error(
        make_resource: Callable[..., Resource], tmp_path: Path) -> None:
    """Without credentials the command says which variables to set and exits 1."""
    source = tmp_path / "channellayer.yaml"
    source.write_text(yaml.safe_dump(make_resource()))
    result = cli("reconcile", "-f", str(source), admin=False)
    assert result.returncode == 1
    assert "RABBITMQ_ADMIN_USER" in result.stderr
    assert result.stdout == ""


def test_admin_file_in_the_example_secrets_shape_is_used(
        make_resource: Callable[..., Resource], tmp_path: Path) -> None:
    """--admin-file takes the admin Secret's own manifest (examples/admin-secret.yaml with
    this node's credentials); the environment is not needed."""
    source = tmp_path / "channellayer.yaml"
    source.write_text(yaml.safe_dump(make_resource()))
    manifest = yaml.safe_load((ROOT / "operator" / "examples" / "admin-secret.yaml").read_text())
    manifest["stringData"] = {"username": "guest", "password": "guest"}
    admin_file = tmp_path / "admin-secret.yaml"
    admin_file.write_text(yaml.safe_dump(manifest))
    result = cli("reconcile", "-f", str(source), "--dry-run", "--admin-file", str(admin_file),
                 admin=False)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["kind"] == "Secret"

    manifest["stringData"]["password"] = "wrong"
    admin_file.write_text(yaml.safe_dump(manifest))
    refused = cli("reconcile", "-f", str(source), "--dry-run", "--admin-file", str(admin_file),
                  admin=False)
    assert refused.returncode == 1  # the file's credentials are the ones sent
    assert "HTTP 401" in refused.stderr


def test_admin_file_without_the_keys_names_the_file_and_the_keys(
        make_resource: Callable[..., Resource], tmp_path: Path) -> None:
    source = tmp_path / "channellayer.yaml"
    source.write_text(yaml.safe_dump(make_resource()))
    admin_file = tmp_path / "admin.yaml"
    admin_file.write_text(yaml.safe_dump({"user": "guest", "password": "guest"}))
    result = cli("reconcile", "-f", str(source), "--admin-file", str(admin_file), admin=False)
    assert result.returncode == 1
    assert f"error: {admin_file}: no admin credentials under key(s) username" in result.stderr
    assert "it has password, user" in result.stderr
    assert "RABBITMQ_ADMIN_USER" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("extra, expected", [
    pytest.param([], ["--standalone", "--all-namespaces", f"--liveness={LIVENESS}"],
                 id="defaults"),
    pytest.param(["--namespace=apps"], ["--standalone", f"--liveness={LIVENESS}",
                                        "--namespace=apps"], id="namespace"),
    pytest.param(["-n", "apps", "-napps2"], ["--standalone", f"--liveness={LIVENESS}", "-n",
                                             "apps", "-napps2"], id="short-namespaces"),
    pytest.param(["--liveness=", "--peering", "ours"],
                 ["--all-namespaces", "--liveness=", "--peering", "ours"], id="overridden"),
])
def test_run_adds_the_charts_defaults_unless_given(extra: list[str],
                                                   expected: list[str]) -> None:
    """``run`` (the image's entry) passes kopf what the chart passes, unless told otherwise."""
    arguments = kopf_arguments(extra)
    assert arguments[arguments.index("-m"):][:2] == ["-m", "amqp_channels_operator.handlers"]
    assert [a for a in arguments if a not in ("-m", "amqp_channels_operator.handlers")] == \
        expected


def test_run_and_the_chart_start_kopf_alike() -> None:
    """The Dockerfile's ``run --all-namespaces`` and the chart's default command give kopf
    the same arguments."""
    [deployment] = of_kind(rendered("amqp-channels-operator", "defaults"), "Deployment")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["kopf", "run"]
    assert sorted(command[2:]) == sorted(kopf_arguments(["--all-namespaces"]))
