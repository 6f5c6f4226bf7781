"""charts/amqp-channels-operator: one CRD source, RBAC no wider than kopf needs, kopf's own
liveness endpoint, and a schema that refuses what --standalone cannot do."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .rendering import CHARTS, ROOT, crds, of_kind, refusal, rendered, scenarios

CHART = "amqp-channels-operator"
ALL = [path.name.removesuffix("-values.yaml") for path in scenarios(CHART)]
CRD_SOURCE = ROOT / "operator" / "crd" / "channellayer.yaml"
IMAGE = {"image": {"repository": "registry.example.com/amqp-channels-operator"}}


def rules_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [rule for role in of_kind(objects, kind) for rule in role["rules"]]


def test_crd_has_one_source_the_operator_folder() -> None:
    """crds/ links to operator/crd, and what Helm installs is exactly that file."""
    link = CHARTS / CHART / "crds" / "channellayer.yaml"
    assert link.is_symlink() and link.resolve() == CRD_SOURCE.resolve()
    assert crds(CHART) == [yaml.safe_load(CRD_SOURCE.read_text())]


# What kopf (--standalone) and the operator call on the API, per resource; nothing more.
# kopf lists, watches and merge-patches its resources (finalizer, progress annotations, the
# status subresource) and posts core/v1 Events; secret_store.py gets, creates, replaces and
# deletes the Secrets it names.
NEEDED = {
    ("amqp-channels.io", "channellayers"): {"list", "watch", "patch"},
    ("amqp-channels.io", "channellayers/status"): {"patch"},
    ("", "secrets"): {"get", "create", "update", "delete"},
    ("", "events"): {"create"},
}


@pytest.mark.parametrize("scenario", ["defaults", "namespaced"])
def test_rbac_is_exactly_what_the_operator_calls(scenario: str) -> None:
    """Every served namespace's (Cluster)Role grants exactly NEEDED: no finalizers
    subresource (no ownerReferences are set), no secret patch, no get on ChannelLayers."""
    objects = rendered(CHART, scenario)
    roles = of_kind(objects, "Role") or [r for r in of_kind(objects, "ClusterRole")
                                         if not r["metadata"]["name"].endswith("-crd-discovery")]
    for role in roles:
        granted = {(group, resource): set(rule["verbs"]) for rule in role["rules"]
                   for group in rule["apiGroups"] for resource in rule["resources"]}
        assert granted == NEEDED


@pytest.mark.parametrize("scenario", ALL)
def test_no_wildcards_no_secret_listing(scenario: str) -> None:
    """The operator may write and delete the Secrets it names but never list or watch them,
    deletes nothing else, and holds no wildcard permission anywhere."""
    objects = rendered(CHART, scenario)
    for rule in rules_of(objects, "ClusterRole") + rules_of(objects, "Role"):
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        if "secrets" in rule["resources"]:
            assert not {"list", "watch"} & set(rule["verbs"])
        else:
            assert "delete" not in rule["verbs"]


def test_all_namespaces_uses_one_cluster_role() -> None:
    objects = rendered(CHART, "defaults")
    assert of_kind(objects, "Role") == []
    resources = {r for rule in rules_of(objects, "ClusterRole") for r in rule["resources"]}
    assert {"channellayers", "channellayers/status", "secrets", "events"} <= resources
    [deployment] = of_kind(objects, "Deployment")
    assert "--all-namespaces" in deployment["spec"]["template"]["spec"]["containers"][0][
        "command"]


def test_listed_namespaces_get_a_role_each_and_nothing_cluster_wide_but_crd_reads() -> None:
    objects = rendered(CHART, "namespaced")
    assert sorted(role["metadata"]["namespace"] for role in of_kind(objects, "Role")) == [
        "chat", "chat-staging"]
    assert sorted(b["metadata"]["namespace"] for b in of_kind(objects, "RoleBinding")) == [
        "chat", "chat-staging"]
    assert rules_of(objects, "ClusterRole") == [{
        "apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"]}]
    command = of_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0][
        "command"]
    assert "--namespace=chat" in command and "--namespace=chat-staging" in command
    assert "--all-namespaces" not in command


def test_no_namespace_listed_means_the_release_namespace() -> None:
    objects = rendered(CHART, "release-namespace")
    assert [role["metadata"]["namespace"] for role in of_kind(objects, "Role")] == ["apps"]
    assert {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]} in rules_of(
        objects, "Role")


@pytest.mark.parametrize("scenario", ALL)
def test_standalone_single_replica_with_kopf_liveness(scenario: str) -> None:
    """No peering: one replica, replaced (not rolled) so two never run at once; liveness and
    readiness ask kopf's /healthz on the port kopf was told to serve it."""
    [deployment] = of_kind(rendered(CHART, scenario), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["kopf", "run", "--standalone"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["command"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_bindings_name_the_operators_service_account() -> None:
    objects = rendered(CHART, "release-namespace")
    [account] = of_kind(objects, "ServiceAccount")
    assert account["metadata"]["name"] == "channels-operator"
    for binding in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "channels-operator",
                                        "namespace": "apps"}]


@pytest.mark.parametrize("values, words", [
    pytest.param({}, ["at '/image/repository': minLength: got 0, want 1"], id="no-image"),
    pytest.param({**IMAGE, "replicas": 2}, ["additional properties 'replicas' not allowed"],
                 id="replicas-with-standalone"),
    pytest.param({**IMAGE, "watch": {"allNamespaces": "yes"}},
                 ["at '/watch/allNamespaces': got string, want boolean"], id="string-bool"),
    pytest.param({**IMAGE, "watch": {"allNamespaces": False, "namespaces": ["Chat_1"]}},
                 ["at '/watch/namespaces/0'"], id="bad-namespace"),
    pytest.param({**IMAGE, "operator": {"healthPort": 80}},
                 ["at '/operator/healthPort': minimum: got 80, want 1,024"],
                 id="privileged-port"),
])
def test_schema_refuses_wrong_values_saying_where(values: dict[str, Any],
                                                  words: list[str]) -> None:
    message = refusal(CHART, values)
    assert [word for word in words if word not in message] == [], message
