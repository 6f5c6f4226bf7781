"""Both charts over every scenario in their ci/ folders: Helm lints them without a finding
above info, and every rendered object is valid for Kubernetes 1.37 and for 1.30, the charts'
floor (unknown fields are errors)."""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import pytest

from .rendering import (
    CHARTS,
    CUSTOM_KINDS,
    KUBERNETES_VERSION,
    OLDEST_KUBERNETES,
    crds,
    render,
    rendered,
    scenarios,
    validate,
    values_of,
)

CHART_NAMES = ("amqp-channels", "amqp-channels-operator")
SCENARIOS = [pytest.param(chart, path, id=f"{chart}/{path.name}")
             for chart in CHART_NAMES for path in scenarios(chart)]
# What the issue asks each chart's ci/ folder to cover (the operator's own are its namespaces).
REQUIRED = {
    "amqp-channels": {"defaults", "existing-secret", "operator-secret", "tls", "autoscaling",
                      "several-workers", "network-policy"},
    "amqp-channels-operator": {"defaults", "namespaced", "release-namespace"},
}
SEVERITY_INFO = 1


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_ci_folder_has_every_required_scenario(chart: str) -> None:
    names = {path.name.removesuffix("-values.yaml") for path in scenarios(chart)}
    assert REQUIRED[chart] <= names


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, OLDEST_KUBERNETES])
@pytest.mark.parametrize("chart, path", SCENARIOS)
def test_lint_finds_nothing_above_info(chart: str, path: Path, version: str) -> None:
    """`helm lint --strict` against the newest and the oldest supported Kubernetes: no
    warning, no error (kubeVersion admits both)."""
    report = helm.lint(CHARTS / chart, values_of(path), strict=True,
                       kube_version=f"v{version}")
    findings = [message for message in report["messages"]
                if message["severity"] > SEVERITY_INFO]
    assert findings == [] and report["errors"] == []


@pytest.mark.parametrize("chart, path", SCENARIOS)
def test_every_rendered_object_is_valid_kubernetes(chart: str, path: Path) -> None:
    scenario = path.name.removesuffix("-values.yaml")
    objects = rendered(chart, scenario)
    assert objects, "the scenario rendered nothing"
    skipped = [(obj["apiVersion"], obj["kind"]) for obj in objects if not validate(obj)]
    assert set(skipped) <= CUSTOM_KINDS


def test_example_values_for_existing_tls_rabbitmq_render_validly() -> None:
    """The documented example is a scenario too."""
    example = values_of(CHARTS / "amqp-channels" / "examples" / "existing-rabbitmq-tls.yaml")
    for obj in render("amqp-channels", example):
        validate(obj)


def test_operator_crd_is_a_valid_custom_resource_definition() -> None:
    [crd] = crds("amqp-channels-operator")
    assert crd["kind"] == "CustomResourceDefinition"
    assert validate(crd)


def test_validation_rejects_what_kubernetes_would() -> None:
    """The validator is not a rubber stamp: a misspelled field of a Deployment fails."""
    [deployment, *_] = [obj for obj in rendered("amqp-channels", "defaults")
                        if obj["kind"] == "Deployment"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(Exception, match="replica"):
        validate(broken)
