"""Render the charts in charts/ with Helm's own library (helm-python-sdk) and check the
result with the Kubernetes schemas (kubernetes-validate), offline and without a cluster.

Rendering is memoised per (chart, values file): each scenario is rendered once per run.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
KUBERNETES_VERSION = "1.37.0"  # the newest the installed kubernetes-validate knows
OLDEST_KUBERNETES = "1.30.0"  # the charts' kubeVersion floor (preStop.sleep needs 1.30)
RELEASE, NAMESPACE = "chat", "apps"
# Kinds the Kubernetes schemas cannot know: our own resources, checked by their CRD instead.
CUSTOM_KINDS = frozenset({("amqp-channels.io/v1alpha1", "ChannelLayer")})

helm.enable_logging(logging.WARNING)  # Helm's INFO lines (e.g. "found symbolic link") go quiet


def scenarios(chart: str) -> list[Path]:
    """The chart's ci/*-values.yaml files, the scenarios anyone can render."""
    return sorted((CHARTS / chart / "ci").glob("*-values.yaml"))


def values_of(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text()) or {}
    assert isinstance(loaded, dict), f"{path} is not a mapping"
    return loaded


@functools.cache
def load(chart: str) -> helm.Chart:
    return helm.Chart.load(CHARTS / chart)


def render(chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders for ``values``, as an install would (schema included)."""
    manifests = load(chart).render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [doc for name, text in sorted(manifests.items()) if name.endswith((".yaml", ".yml"))
            for doc in yaml.safe_load_all(text) if doc]


@functools.cache
def _rendered(chart: str, path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(render(chart, values_of(path)))


def rendered(chart: str, scenario: str) -> list[dict[str, Any]]:
    """The objects of ``ci/{scenario}-values.yaml``, rendered once per test run."""
    return list(_rendered(chart, CHARTS / chart / "ci" / f"{scenario}-values.yaml"))


def notes(chart: str, values: dict[str, Any]) -> str:
    manifests = load(chart).render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for name, text in manifests.items() if name.endswith("NOTES.txt"))


def crds(chart: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(crd["data"]) for crd in load(chart).crds]


def validate(obj: dict[str, Any]) -> bool:
    """Check ``obj`` against the Kubernetes schemas of the newest and the oldest version the
    charts support (strict: unknown fields are errors).

    Returns False for a custom kind that it skipped on purpose; raises on anything invalid
    or unknown."""
    if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_KINDS:
        return False
    for version in (KUBERNETES_VERSION, OLDEST_KUBERNETES):
        kubernetes_validate.validate(obj, version, strict=True)
    return True


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, container) for every container of every Deployment."""
    for deployment in of_kind(objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment, container


def env_of(container: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment Kubernetes would give ``container``: secretKeyRefs read from
    ``secrets``, missing optional keys left out, ``$(VAR)`` expanded from earlier entries."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], entry["value"])
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        if ref["key"] in secrets[ref["name"]]:
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            assert ref.get("optional"), f"required key {ref['key']} missing"
    return env


def files_of(deployment: dict[str, Any], container: dict[str, Any],
             secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The files the container's Secret volumes would hold, by path; a key the Secret lacks
    fails the test as it would keep the pod from starting."""
    volumes = {v["name"]: v["secret"] for v in deployment["spec"]["template"]["spec"]["volumes"]
               if "secret" in v}
    files: dict[str, str] = {}
    for mount in container["volumeMounts"]:
        if (volume := volumes.get(mount["name"])) is None:
            continue
        held = secrets[volume["secretName"]]
        for item in volume["items"]:
            assert item["key"] in held, f"Secret {volume['secretName']} has no {item['key']}"
            files[f"{mount['mountPath']}/{item['path']}"] = held[item["key"]]
    return files


def refusal(chart: str, values: dict[str, Any]) -> str:
    """The message when Helm refuses ``values`` (the schema's, or a template's ``fail``);
    fails the test if it accepts them."""
    try:
        render(chart, values)
    except (helm.HelmValuesError, helm.HelmRenderError) as refused:
        return str(refused)
    raise AssertionError(f"{chart} accepted {values!r}")
