"""charts/amqp-channels: what the rendered objects promise (probes, the contract's Secret keys,
security, optional objects) and which wrong values its schema refuses."""

from __future__ import annotations

from typing import Any

import pytest

from amqp_channels.amqp.url import parse_url
from amqp_channels.layer.config import LayerConfig
from amqp_channels.settings import channel_layers_from_env

from .rendering import (
    RELEASE,
    containers,
    env_of,
    files_of,
    named,
    notes,
    of_kind,
    refusal,
    render,
    rendered,
    scenarios,
    values_of,
)

CHART = "amqp-channels"
PREFIX = f"{RELEASE}-{CHART}"
ALL = [path.name.removesuffix("-values.yaml") for path in scenarios(CHART)]
CA_PATH = "/etc/amqp-channels/tls/ca.crt"


def minimal(**changes: Any) -> dict[str, Any]:
    """The defaults scenario with top-level keys replaced."""
    return {**values_of(scenarios(CHART)[0].with_name("defaults-values.yaml")), **changes}


# -- probes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ALL)
def test_every_readiness_probe_runs_the_health_check(scenario: str) -> None:
    """Daphne and workers alike are ready only while the layer reaches the broker; the probe
    gives the check its own timeout plus start-up time."""
    for _deployment, container in containers(rendered(CHART, scenario)):
        probe = container["readinessProbe"]
        command = probe["exec"]["command"]
        assert command[:3] == ["python", "-m", "amqp_channels.health"]
        check_timeout = int(next(arg for arg in command if arg.startswith("--timeout="))
                            .split("=")[1])
        assert probe["timeoutSeconds"] > check_timeout
        assert "--alias=default" in command


@pytest.mark.parametrize("scenario", ALL)
def test_liveness_never_asks_the_broker(scenario: str) -> None:
    """A broker outage must not restart pods: Daphne's liveness is its TCP port, workers have
    none unless the values give one, and no liveness probe runs the health check."""
    for deployment, container in containers(rendered(CHART, scenario)):
        liveness = container.get("livenessProbe")
        if container["name"] == "daphne":
            assert liveness == {"tcpSocket": {"port": "http"}, "periodSeconds": 10,
                                "failureThreshold": 3}
        assert "amqp_channels.health" not in str(liveness), deployment["metadata"]["name"]


def test_workers_get_no_liveness_probe_unless_given() -> None:
    objects = rendered(CHART, "several-workers")
    assert "livenessProbe" not in named(objects, "Deployment", f"{PREFIX}-worker-mail")[
        "spec"]["template"]["spec"]["containers"][0]
    reports = named(objects, "Deployment", f"{PREFIX}-worker-reports")
    assert reports["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]


@pytest.mark.parametrize("scenario", ALL)
def test_websockets_get_time_to_drain(scenario: str) -> None:
    """Daphne leaves the endpoints (preStop sleep) before SIGTERM, within the grace period."""
    daphne = named(rendered(CHART, scenario), "Deployment", f"{PREFIX}-daphne")
    pod = daphne["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 0 < sleep < pod["terminationGracePeriodSeconds"]


# -- the connection, per docs/deployment-contract.md -----------------------------------------

def test_existing_secret_keys_reach_the_settings() -> None:
    """URL and prefix from the user's Secret become the layer's hosts and prefix."""
    url = "amqp://chat:pw@rabbit.infra:5672/chat"
    for _deployment, container in containers(rendered(CHART, "existing-secret")):
        env = env_of(container, {"chat-rabbitmq": {"AMQP_CHANNELS_URL": url}})
        assert env["DJANGO_SETTINGS_MODULE"] == "chatsite.settings"
        config = channel_layers_from_env(env)["default"]["CONFIG"]
        assert config == {"hosts": [url], "prefix": "chat"}


def test_operator_secret_is_named_after_the_channel_layer() -> None:
    """broker.channelLayer=chat reads NAME-amqp-channels, its JSON setting winning."""
    setting = '{"default": {"BACKEND": "amqp_channels.layer.AMQPChannelLayer", ' \
              '"CONFIG": {"hosts": ["amqp://u:p@r:5672/v"], "queue_type": "quorum"}}}'
    secret = {"AMQP_CHANNELS_URL": "amqp://u:p@r:5672/v", "AMQP_CHANNELS_LAYERS": setting}
    for _deployment, container in containers(rendered(CHART, "operator-secret")):
        env = env_of(container, {"chat-amqp-channels": secret})
        assert channel_layers_from_env(env)["default"]["CONFIG"]["queue_type"] == "quorum"


def test_plain_values_with_tls_build_amqps_urls_and_mount_the_ca() -> None:
    """hosts/vhost/user + password Secret give one amqps:// URL per node; the CA Secret is
    mounted where AMQP_CHANNELS_CA_FILE points."""
    for deployment, container in containers(rendered(CHART, "tls")):
        env = env_of(container, {"chat-rabbitmq-password": {"password": "s3cret"}})
        config = channel_layers_from_env(env)["default"]["CONFIG"]
        assert config["hosts"] == [
            "amqps://chat-app:s3cret@rabbit-0.rabbit.infra.svc:5671/chat",
            "amqps://chat-app:s3cret@rabbit-1.rabbit.infra.svc:5671/chat"]
        assert config["ssl"] == {"cafile": CA_PATH}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "broker-ca")
        volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"]
                      if v["name"] == "broker-ca")
        assert f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}" == CA_PATH
        assert volume["secret"] == {"secretName": "rabbitmq-ca",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}]}


def test_tls_with_a_connection_secret_mounts_its_ca_crt() -> None:
    """With tls.enabled and no caSecret, ca.crt comes from the connection Secret itself."""
    values = minimal()
    values["broker"] = {"existingSecret": "chat-rabbitmq", "tls": {"enabled": True}}
    for deployment, _container in containers(render(CHART, values)):
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert {"name": "broker-ca", "secret": {
            "secretName": "chat-rabbitmq", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
        } in volumes


@pytest.mark.parametrize("vhost", ["/", "chat room", "a+b/c", "ünï"])
def test_plain_values_vhost_reaches_the_layer_unchanged(vhost: str) -> None:
    """Whatever the vhost's characters, the URL the chart builds parses back to it."""
    values = broker(hosts=["rabbit:5672"], vhost=vhost, user="chat-app.1_~",
                    passwordSecret={"name": "pw"})
    for _deployment, container in containers(render(CHART, values)):
        [url] = channel_layers_from_env(env_of(container, {"pw": {"password": "s"}}))[
            "default"]["CONFIG"]["hosts"]
        params = parse_url(url, heartbeat=60)
        assert (params.vhost, params.username, params.password) == (vhost, "chat-app.1_~", "s")


@pytest.mark.parametrize("source", [
    pytest.param({"existingSecret": "chat-rabbitmq"}, id="connection-secret"),
    pytest.param({"hosts": ["rabbit.example.com:5671"], "vhost": "chat", "user": "chat-app",
                  "passwordSecret": {"name": "chat-rabbitmq"}}, id="plain-values"),
])
def test_tls_with_a_public_ca_mounts_nothing(source: dict[str, Any]) -> None:
    """tls.ca=system: no CA volume and no AMQP_CHANNELS_CA_FILE, so a Secret without ca.crt
    starts; the layer's amqps:// URL is then checked with the default trust store."""
    url = "amqps://chat-app:pw@rabbit.example.com:5671/chat"
    secret = {"AMQP_CHANNELS_URL": url, "password": "pw"}  # no ca.crt
    values = broker(**source, tls={"enabled": True, "ca": "system"})
    for deployment, container in containers(render(CHART, values)):
        assert files_of(deployment, container, {"chat-rabbitmq": secret}) == {}
        config = channel_layers_from_env(env_of(container, {"chat-rabbitmq": secret}))[
            "default"]["CONFIG"]
        assert config == {"hosts": [url]}
        assert LayerConfig.from_kwargs(**config).ssl is None


def test_tls_ca_from_a_secret_is_the_file_the_settings_name() -> None:
    """The default tls.ca=secret: the mounted file is the Secret's ca.crt, at the path
    AMQP_CHANNELS_CA_FILE gives the layer."""
    secret = {"AMQP_CHANNELS_URL": "amqps://u:p@rabbit:5671/v", "ca.crt": "PEM"}
    values = broker(existingSecret="chat-rabbitmq", tls={"enabled": True})
    for deployment, container in containers(render(CHART, values)):
        files = files_of(deployment, container, {"chat-rabbitmq": secret})
        config = channel_layers_from_env(env_of(container, {"chat-rabbitmq": secret}))
        assert files == {config["default"]["CONFIG"]["ssl"]["cafile"]: "PEM"}


def test_no_ca_file_without_tls() -> None:
    for _deployment, container in containers(rendered(CHART, "defaults")):
        names = [entry["name"] for entry in container["env"]]
        assert "AMQP_CHANNELS_CA_FILE" not in names
        assert names[:2] == ["AMQP_CHANNELS_URL", "AMQP_CHANNELS_LAYERS"]


# -- Deployments, Services and optional objects ------------------------------------------------

def test_one_worker_deployment_per_entry_running_its_channels() -> None:
    objects = rendered(CHART, "several-workers")
    workers = {d["metadata"]["name"]: (d["spec"].get("replicas"),
                                       d["spec"]["template"]["spec"]["containers"][0])
               for d in of_kind(objects, "Deployment") if "worker" in d["metadata"]["name"]}
    assert {name: (replicas, container["command"] + container["args"])
            for name, (replicas, container) in workers.items()} == {
        f"{PREFIX}-worker-thumbnails": (2, ["python", "manage.py", "runworker",
                                            "thumbnails-generate", "thumbnails-delete"]),
        f"{PREFIX}-worker-mail": (1, ["python", "manage.py", "runworker", "mail-send"]),
        f"{PREFIX}-worker-reports": (2, ["python", "manage.py", "runworker", "reports-build"]),
    }


@pytest.mark.parametrize("scenario", ALL)
def test_selectors_match_and_labels_are_standard(scenario: str) -> None:
    """Each Deployment selects its own pods; the Service selects Daphne's only."""
    objects = rendered(CHART, scenario)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert {"app.kubernetes.io/name", "app.kubernetes.io/version",
                "app.kubernetes.io/managed-by", "helm.sh/chart"} <= set(labels)
    for deployment in of_kind(objects, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    [service] = of_kind(objects, "Service")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "daphne"


@pytest.mark.parametrize("scenario", ALL)
def test_pods_run_non_root_read_only_without_capabilities(scenario: str) -> None:
    for deployment, container in containers(rendered(CHART, scenario)):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("scenario", ALL)
def test_network_policy_only_when_enabled(scenario: str) -> None:
    policies = of_kind(rendered(CHART, scenario), "NetworkPolicy")
    assert len(policies) == (1 if scenario == "network-policy" else 0)


def test_network_policy_allows_only_broker_dns_and_daphne_port() -> None:
    [policy] = of_kind(rendered(CHART, "network-policy"), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": CHART,
                                                  "app.kubernetes.io/instance": RELEASE}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}],
                                "from": [{"namespaceSelector": {"matchLabels": {
                                    "kubernetes.io/metadata.name": "ingress-nginx"}}}]}]
    broker, dns = spec["egress"]
    assert [p["port"] for p in broker["ports"]] == [5671, 5672]
    assert broker["to"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "rabbitmq"}
    assert sorted(p["protocol"] for p in dns["ports"]) == ["TCP", "UDP"]
    assert {p["port"] for p in dns["ports"]} == {53}


@pytest.mark.parametrize("scenario", ALL)
def test_autoscalers_only_when_enabled_and_they_own_the_replicas(scenario: str) -> None:
    """Each HPA scales an existing Deployment, which then leaves replicas to it."""
    objects = rendered(CHART, scenario)
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    assert bool(autoscalers) == (scenario == "autoscaling")
    for hpa in autoscalers:
        target = named(objects, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert "replicas" not in target["spec"]
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_disruption_budgets_select_their_deployments_pods() -> None:
    objects = rendered(CHART, "autoscaling")
    budgets = of_kind(objects, "PodDisruptionBudget")
    assert {b["metadata"]["name"]: b["spec"]["maxUnavailable"] for b in budgets} == {
        f"{PREFIX}-daphne": 1, f"{PREFIX}-worker-thumbnails": "50%"}
    for budget in budgets:
        deployment = named(objects, "Deployment", budget["metadata"]["name"])
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]


def test_ingress_routes_to_the_daphne_service() -> None:
    objects = rendered(CHART, "network-policy")
    [ingress] = of_kind(objects, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = named(objects, "Service", backend["name"])
    assert backend["port"]["number"] == service["spec"]["ports"][0]["port"]


def test_notes_name_the_source_and_the_health_command() -> None:
    text = notes(CHART, values_of(scenarios(CHART)[0].with_name("operator-secret-values.yaml")))
    assert "Secret chat-amqp-channels" in text
    assert "python -m amqp_channels.health" in text


# -- the schema refuses wrong values ---------------------------------------------------------

def broker(**source: Any) -> dict[str, Any]:
    return minimal(broker=source)


@pytest.mark.parametrize("values, words", [
    pytest.param(minimal(daphne={"asgiApplication": "a.asgi:app", "replicas": "3"}),
                 ["at '/daphne/replicas': got string, want integer"], id="string-replicas"),
    pytest.param(broker(), ["at '/broker': 'oneOf' failed", "/broker/existingSecret",
                            "/broker/channelLayer", "/broker/hosts"], id="no-broker-source"),
    pytest.param(broker(existingSecret="a", channelLayer="b"),
                 ["at '/broker': 'oneOf' failed"], id="two-broker-sources"),
    pytest.param(broker(hosts=["rabbit:5672"], user="app"),
                 ["at '/broker'", "passwordSecret"], id="plain-hosts-without-password"),
    pytest.param(minimal(daphne={"asgiApplication": "a.asgi:app", "port": 70000}),
                 ["at '/daphne/port': maximum: got 70,000, want 65,535"], id="bad-port"),
    pytest.param(minimal(service={"port": "http"}), ["at '/service/port': got string"],
                 id="port-name-for-service"),
    pytest.param(minimal(image={}), ["at '/image/repository': minLength: got 0, want 1"],
                 id="no-image"),
    pytest.param(minimal(daphne={"asgiApplication": "chatsite/asgi.py"}),
                 ["at '/daphne/asgiApplication'"], id="asgi-path-not-module"),
    pytest.param(minimal(workers=[{"name": "mail"}]),
                 ["at '/workers/0': missing property 'channels'"], id="worker-without-channels"),
    pytest.param(minimal(workers=[{"name": "Mail", "channels": ["m"]}]),
                 ["at '/workers/0/name'"], id="worker-name-not-dns"),
    pytest.param(broker(hosts=["rabbit:5672"], user="chat app", passwordSecret={"name": "p"}),
                 ["at '/broker/user'"], id="user-with-space"),
    pytest.param(broker(hosts=["rabbit:5672"], user="chat@corp", passwordSecret={"name": "p"}),
                 ["at '/broker/user'"], id="user-with-at-sign"),
    pytest.param(minimal(workers=[{"name": "mail", "channels": ["a"]},
                                  {"name": "mail", "channels": ["b"]}]),
                 ['workers[1].name "mail" repeats workers[0].name'], id="duplicate-worker"),
    pytest.param(minimal(daphne={"asgiApplication": "a.asgi:app", "autoscaling": {
                     "enabled": True, "minReplicas": 5, "maxReplicas": 3}}),
                 ["daphne.autoscaling: minReplicas 5 exceeds maxReplicas 3"],
                 id="autoscaling-min-above-max"),
    pytest.param(minimal(workers=[{"name": "mail", "channels": ["a"],
                                   "autoscaling": {"enabled": True, "minReplicas": 6}}]),
                 ["workers[0] (mail).autoscaling: minReplicas 6 exceeds maxReplicas 5"],
                 id="worker-min-above-default-max"),
    pytest.param(minimal(daphne={"asgiApplication": "a.asgi:app", "preStopSleepSeconds": 45}),
                 ["daphne: preStopSleepSeconds 45 must be less than "
                  "terminationGracePeriodSeconds 45"], id="pre-stop-fills-the-grace-period"),
    pytest.param(broker(channelLayer="chat", prefix="chat"),
                 ["broker.prefix cannot go with broker.channelLayer or broker.operatorSecret"],
                 id="prefix-with-channel-layer"),
    pytest.param(broker(operatorSecret="chat-amqp-channels", prefix="chat"),
                 ["broker.prefix cannot go with"], id="prefix-with-operator-secret"),
    pytest.param(broker(existingSecret="s", tls={"enabled": True, "ca": "system",
                                                 "caSecret": "ca"}),
                 ["at '/broker/tls/caSecret'"], id="ca-secret-with-system-ca"),
    pytest.param(broker(existingSecret="s", tls={"enabled": True, "ca": "none"}),
                 ["at '/broker/tls/ca'"], id="unknown-ca-source"),
    pytest.param(minimal(daphne={"asgiApplication": "a.asgi:app", "replica": 2}),
                 ["additional properties 'replica' not allowed"], id="misspelled-key"),
])
def test_schema_refuses_wrong_values_saying_where(values: dict[str, Any],
                                                  words: list[str]) -> None:
    """An install with wrong values fails before anything renders, naming the key (the
    schema per key; the templates across keys: duplicates, min > max, prefix ignored)."""
    message = refusal(CHART, values)
    assert [word for word in words if word not in message] == [], message


def test_chart_defaults_alone_are_refused() -> None:
    """Nothing can be guessed: the image, the ASGI app and the broker must be given."""
    message = refusal(CHART, {})
    assert "'/image/repository'" in message and "'/broker'" in message
