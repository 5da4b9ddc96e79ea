"""Offline checks of deploy/k8s/: the Kustomize base and overlays, rendered without kubectl.

`render` below does what these kustomizations use (`resources`, `namespace`, `images`, and
strategic-merge `patches` picked by kind, name or label selector) and refuses anything else, so
an overlay that starts using another kustomize feature fails here instead of rendering wrong.
When a `kubectl` binary is on PATH, `render` is also compared with `kubectl kustomize`.

Rendered objects are validated against the Kubernetes JSON schemas that the `kubernetes-validate`
package ships (offline; strict, so an unknown or misspelt field fails). KEDA's CRDs
(ScaledObject, TriggerAuthentication) and the operators' (RabbitmqCluster, MongoDBCommunity, in
backing/) have no schema there and are checked by hand.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import kubernetes_validate.utils  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr, ValidationError

from shared.messaging.topology import SUBSCRIPTIONS, QueueNames
from shared.settings import SERVICE_PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
LAYERS = ("base", "overlays/production", "overlays/local")
OVERLAYS = ("overlays/production", "overlays/local")
# What Aviary runs on, clustered (RabbitMQ, MongoDB, MinIO); production includes it.
BACKING = "backing"
# The oldest Kubernetes minor these manifests are validated against (schemas ship up to 1.37).
KUBERNETES_VERSION = "1.30"
CRD_KINDS = frozenset(
    {"ScaledObject", "TriggerAuthentication", "RabbitmqCluster", "MongoDBCommunity"}
)
SECRET_NAME = "aviary-secrets"
CONFIG_NAME = "aviary-config"
# Settings that carry credentials (SecretStr) or may embed them (URLs with user:password).
SECRET_SETTINGS = frozenset(
    {n for n, f in Settings.model_fields.items() if f.annotation is SecretStr}
    | {"amqp_url", "mongo_url", "s3_access_key"}
)
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")

# What render() implements of a kustomization; anything else is refused.
SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "resources", "namespace", "images", "patches"})

Obj = dict[str, Any]


# ---- a minimal kustomize ----------------------------------------------------------------------


def load_documents(path: Path) -> list[Obj]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert all(isinstance(d, dict) for d in docs), path
    return docs


def strategic_merge(target: Obj, patch: Obj) -> None:
    """Maps merge, lists of named maps merge by `name` (containers, env), other lists replace."""
    for key, value in patch.items():
        assert not key.startswith("$"), f"patch directive {key} is not supported here"
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            strategic_merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _named(value + current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    strategic_merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _selects(target: dict[str, str], obj: Obj) -> bool:
    assert set(target) <= {"kind", "name", "labelSelector"}, f"unsupported target {target}"
    labels = obj["metadata"].get("labels", {})
    selector = target.get("labelSelector", "")
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
    return (
        target.get("kind", obj["kind"]) == obj["kind"]
        and target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"]
        and all(labels.get(k) == v for k, v in wanted.items())
    )


def _set_image(container: Obj, rule: dict[str, str]) -> None:
    assert set(rule) <= {"name", "newName", "newTag", "digest"}, rule
    image = container["image"]
    name, tag = image.split("@", 1)[0], ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    if name != rule["name"]:
        return
    name = rule.get("newName", name)
    if "digest" in rule:
        container["image"] = f"{name}@{rule['digest']}"
    else:
        tag = rule.get("newTag", tag)
        container["image"] = f"{name}:{tag}" if tag else name


def _render(directory: Path) -> list[Obj]:
    kustomization = load_documents(directory / "kustomization.yaml")[0]
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    assert not unsupported, f"{directory}: render() does not do {sorted(unsupported)}"
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += _render(path) if path.is_dir() else load_documents(path)
    for patch in kustomization.get("patches", []):
        assert set(patch) <= {"path", "target"}, f"unsupported patch {patch}"
        (body,) = load_documents(directory / patch["path"])
        target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
        matched = [obj for obj in objects if _selects(target, obj)]
        assert matched, f"{directory / patch['path']} patches nothing"
        metadata = {k: v for k, v in body.get("metadata", {}).items() if k != "name"}
        for obj in matched:
            strategic_merge(obj, {**body, "metadata": metadata})
    for rule in kustomization.get("images", []):
        for obj in filter(is_workload, objects):
            for container in pod_spec(obj)["containers"]:
                _set_image(container, rule)
    if "namespace" in kustomization:
        for obj in objects:
            obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


@functools.cache
def _render_cached(layer: str) -> tuple[Obj, ...]:
    return tuple(_render(K8S / layer))


def render(layer: str) -> list[Obj]:
    """The objects `kubectl kustomize deploy/k8s/<layer>` would print (a fresh copy)."""
    return copy.deepcopy(list(_render_cached(layer)))


# ---- helpers over rendered objects ------------------------------------------------------------


def is_workload(obj: Obj) -> bool:
    return bool(obj["kind"] == "Deployment")


def pod_spec(obj: Obj) -> Obj:
    spec = obj["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def only_container(deployment: Obj) -> Obj:
    (container,) = pod_spec(deployment)["containers"]
    assert isinstance(container, dict)
    return container


def of_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_labels(deployment: Obj) -> dict[str, str]:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert isinstance(labels, dict)
    return labels


def selects_pods(selector: dict[str, str], deployment: Obj) -> bool:
    labels = pod_labels(deployment)
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def quantity(value: str | int | float) -> float:
    units = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2.0**10, "Mi": 2.0**20}
    units["Gi"] = 2.0**30
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(value))
    assert match and match[2] in units, f"unknown quantity {value!r}"
    return float(match[1]) * units[match[2]]


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def config_data(objects: list[Obj]) -> dict[str, str]:
    data = of_kind(objects, "ConfigMap")[CONFIG_NAME]["data"]
    assert isinstance(data, dict)
    return data


def secret_example() -> Obj:
    (secret,) = load_documents(BASE / "secret.example.yaml")
    return secret


def of_aviary(obj: Obj) -> bool:
    """An object of Aviary's own services (not of what they run on, in backing/)."""
    labels = obj["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component") in ("api", "worker")


def deployments_of(objects: list[Obj], role: str) -> dict[str, Obj]:
    """service name -> its Deployment of `role` (api or worker)."""
    found = {}
    for name, deployment in of_kind(objects, "Deployment").items():
        labels = pod_labels(deployment)
        if labels["app.kubernetes.io/component"] == role:
            assert name == f"{labels['app.kubernetes.io/name']}-{role}"
            found[labels["app.kubernetes.io/name"]] = deployment
    return found


# ---- schema validation ------------------------------------------------------------------------

# kubernetes_validate.validate() re-reads and parses its 1.2 MB definitions file for every
# object (~10 ms each); reading each schema file once makes the whole module ~5x faster.
_schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)


@pytest.fixture
def cached_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubernetes_validate.utils, "schema_contents", _schema_contents)


@pytest.mark.usefixtures("cached_schemas")
@pytest.mark.parametrize("layer", [*LAYERS, BACKING])
def test_every_object_is_valid_against_the_kubernetes_schemas(layer: str) -> None:
    objects = render(layer)
    assert objects
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{layer}: {obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")


@pytest.mark.usefixtures("cached_schemas")
def test_the_secret_template_is_a_valid_secret() -> None:
    kubernetes_validate.validate(secret_example(), KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("layer", LAYERS)
def test_keda_objects_have_their_required_fields(layer: str) -> None:
    objects = render(layer)
    workers = {d["metadata"]["name"] for d in deployments_of(objects, "worker").values()}
    auths = of_kind(objects, "TriggerAuthentication")
    secret_keys = set(secret_example()["stringData"])
    for name, auth in auths.items():
        assert auth["apiVersion"] == "keda.sh/v1alpha1", name
        refs = auth["spec"]["secretTargetRef"]
        assert refs, name
        for ref in refs:
            assert set(ref) == {"parameter", "name", "key"}, ref
            assert ref["name"] == SECRET_NAME and ref["key"] in secret_keys, ref
    scaled = of_kind(objects, "ScaledObject")
    assert scaled
    for name, obj in scaled.items():
        assert obj["apiVersion"] == "keda.sh/v1alpha1", name
        spec = obj["spec"]
        assert spec["scaleTargetRef"]["name"] in workers, name
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment", name
        # Never scaled to zero: workers also run the background loops.
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], name
        assert spec["triggers"], name
        for trigger in spec["triggers"]:
            assert isinstance(trigger["type"], str), name
            # KEDA takes trigger metadata as a map of strings only.
            assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger
            assert trigger["authenticationRef"]["name"] in auths, trigger


# ---- behaviour --------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", LAYERS)
def test_each_service_has_an_api_and_a_worker_deployment(layer: str) -> None:
    objects = render(layer)
    # Every service consumes events, so every service gets a worker Deployment.
    assert set(SUBSCRIPTIONS) == set(SERVICE_PORTS)
    apis, workers = deployments_of(objects, "api"), deployments_of(objects, "worker")
    assert set(apis) == set(workers) == set(SERVICE_PORTS)
    assert len(of_kind(objects, "Deployment")) == 2 * len(SERVICE_PORTS)
    for name in SERVICE_PORTS:
        for role, deployment in (("api", apis[name]), ("worker", workers[name])):
            container = only_container(deployment)
            # The image's ENTRYPOINT is `python -m`: args pick the service and the role.
            assert "command" not in container, name
            assert container["args"] == [f"services.{name}", role]


METRICS_PORT = 9464


@pytest.mark.parametrize("layer", LAYERS)
def test_metrics_are_served_on_a_port_no_service_exposes(layer: str) -> None:
    objects = render(layer)
    (config,) = of_kind(objects, "ConfigMap").values()
    assert config["data"]["AVIARY_METRICS_PORT"] == str(METRICS_PORT)
    for service in of_kind(objects, "Service").values():
        targets = {p.get("targetPort") for p in service["spec"]["ports"]}
        assert not targets & {"metrics", METRICS_PORT}, service["metadata"]["name"]


@pytest.mark.parametrize("layer", LAYERS)
def test_ports_probes_and_scrape_annotations_agree(layer: str) -> None:
    for deployment in of_kind(render(layer), "Deployment").values():
        name = pod_labels(deployment)["app.kubernetes.io/name"]
        port = SERVICE_PORTS[name]
        container = only_container(deployment)
        assert container["ports"] == [
            {"name": "http", "containerPort": port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env["AVIARY_PORT"] == str(port)
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)
        # The process listens at once and waits for its dependencies in the background: only
        # readiness depends on them, so an outage never gets a pod restarted by its probes.
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 30
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        # Scraped on the internal port: the API port's /metrics wants a token (metrics.py).
        assert annotations["prometheus.io/port"] == str(METRICS_PORT)
        assert annotations["prometheus.io/path"] == "/metrics"
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] == 30


@pytest.mark.parametrize("layer", LAYERS)
def test_every_deployment_has_requests_and_limits(layer: str) -> None:
    for name, deployment in of_kind(render(layer), "Deployment").items():
        resources = only_container(deployment)["resources"]
        for what in ("cpu", "memory"):
            request = quantity(resources["requests"][what])
            limit = quantity(resources["limits"][what])
            assert 0 < request <= limit, (layer, name, what)


def test_local_overlay_asks_for_less_than_production() -> None:
    production = of_kind(render("overlays/production"), "Deployment")
    for name, deployment in of_kind(render("overlays/local"), "Deployment").items():
        small = only_container(deployment)["resources"]["requests"]
        large = only_container(production[name])["resources"]["requests"]
        for what in ("cpu", "memory"):
            assert quantity(small[what]) < quantity(large[what]), (name, what)


def _dockerfile_user() -> tuple[int, int]:
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", text, re.MULTILINE)
    assert users, "the Dockerfile sets a numeric USER uid:gid"
    uid, gid = users[-1]
    return int(uid), int(gid)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_deployment_runs_as_non_root_on_a_read_only_root(layer: str) -> None:
    uid, gid = _dockerfile_user()
    for name, deployment in of_kind(render(layer), "Deployment").items():
        pod = pod_spec(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            uid,
            gid,
        )
        assert pod["automountServiceAccountToken"] is False, name
        security = only_container(deployment)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        mounts = {m["mountPath"]: m["name"] for m in only_container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name


@pytest.mark.parametrize("layer", LAYERS)
def test_every_deployment_has_one_pod_disruption_budget(layer: str) -> None:
    objects = render(layer)
    budgets = [b for b in of_kind(objects, "PodDisruptionBudget").values() if of_aviary(b)]
    for name, deployment in of_kind(objects, "Deployment").items():
        matching = [
            b for b in budgets if selects_pods(b["spec"]["selector"]["matchLabels"], deployment)
        ]
        assert len(matching) == 1, name
        assert matching[0]["spec"]["minAvailable"] == 1, name
        # Unready pods (a dependency outage) must not block a node drain.
        assert matching[0]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", name
    for budget in budgets:
        covered = [
            d
            for d in of_kind(objects, "Deployment").values()
            if selects_pods(budget["spec"]["selector"]["matchLabels"], d)
        ]
        assert len(covered) == 1, budget["metadata"]["name"]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_api_deployment_has_a_cpu_autoscaler_and_a_service(layer: str) -> None:
    objects = render(layer)
    hpas = list(of_kind(objects, "HorizontalPodAutoscaler").values())
    services = {n: s for n, s in of_kind(objects, "Service").items() if of_aviary(s)}
    workers = deployments_of(objects, "worker")
    for name, deployment in deployments_of(objects, "api").items():
        deployment_name = deployment["metadata"]["name"]
        # The autoscaler owns the replica count; an apply must not reset it.
        assert "replicas" not in deployment["spec"], deployment_name
        (hpa,) = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == deployment_name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ]
        service = services[name]
        assert service["spec"]["ports"] == [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
        ]
        # API pods only: worker pods answer health and metrics, not clients.
        assert selects_pods(service["spec"]["selector"], deployment), name
        assert not selects_pods(service["spec"]["selector"], workers[name]), name
    assert len(services) == len(SERVICE_PORTS)
    assert len(hpas) == len(SERVICE_PORTS)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_worker_deployment_scales_on_its_own_queue(layer: str) -> None:
    objects = render(layer)
    namespace = config_data(objects)["AVIARY_NAMESPACE"]
    scaled = list(of_kind(objects, "ScaledObject").values())
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(objects, "HorizontalPodAutoscaler").values()
    }
    for name, deployment in deployments_of(objects, "worker").items():
        deployment_name = deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], deployment_name
        assert deployment_name not in hpa_targets  # KEDA makes its own HPA
        (obj,) = [s for s in scaled if s["spec"]["scaleTargetRef"]["name"] == deployment_name]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["metadata"]["value"] == "50"
        assert trigger["metadata"]["queueName"] == QueueNames(namespace, name).main
        assert trigger["metadata"]["queueName"] == f"aviary.{name}"
    assert len(scaled) == len(SERVICE_PORTS)


@pytest.mark.parametrize("layer", LAYERS)
def test_containers_read_the_config_map_and_the_secret(layer: str) -> None:
    objects = render(layer)
    assert CONFIG_NAME in of_kind(objects, "ConfigMap")
    for name, deployment in of_kind(objects, "Deployment").items():
        assert only_container(deployment)["envFrom"] == [
            {"configMapRef": {"name": CONFIG_NAME}},
            {"secretRef": {"name": SECRET_NAME}},
        ], name


@pytest.mark.parametrize("layer", LAYERS)
def test_no_secret_values_are_rendered(layer: str) -> None:
    objects = render(layer)
    assert not of_kind(objects, "Secret"), "create aviary-secrets outside kustomize"
    config = config_data(objects)
    leaked = {k for k in config if k.removeprefix("AVIARY_").lower() in SECRET_SETTINGS}
    assert not leaked
    for obj in objects:
        for text in strings(obj):
            assert not CREDENTIALS_IN_URL.search(text), f"{obj['metadata']['name']}: {text}"
            assert "CHANGE-ME" not in text


def test_the_secret_template_is_not_a_resource_and_names_every_secret_setting() -> None:
    for path in K8S.rglob("kustomization.yaml"):
        listed = load_documents(path)[0].get("resources", [])
        assert not any("secret" in entry for entry in listed), path
    secret = secret_example()
    assert secret["metadata"]["name"] == SECRET_NAME
    data = secret["stringData"]
    assert {k.removeprefix("AVIARY_").lower() for k in data} == SECRET_SETTINGS
    assert all("CHANGE-ME" in value for value in data.values()), "placeholders only"


def filled_in(values: dict[str, str]) -> dict[str, str]:
    """Settings as an operator fills in the Secret: the placeholders replaced, real secrets."""
    filled = {k: v.replace("CHANGE-ME", "s3cr3t") for k, v in values.items()}
    return filled | {"auth_secret": "a" * 64, "operator_key": "b" * 64, "s3_secret_key": "c" * 40}


@pytest.mark.parametrize("layer", LAYERS)
def test_config_and_secret_keys_are_real_settings(layer: str) -> None:
    objects = render(layer)
    config = config_data(objects)
    secret = secret_example()["stringData"]
    assert not set(config) & set(secret)
    env_names = {
        e["name"] for d in of_kind(objects, "Deployment").values() for e in only_container(d)["env"]
    }
    for key in {*config, *secret, *env_names}:
        assert key.startswith("AVIARY_"), key
        assert key.removeprefix("AVIARY_").lower() in Settings.model_fields, key
    values = {k.removeprefix("AVIARY_").lower(): v for k, v in {**config, **secret}.items()}
    # The manifests run in production, which refuses the example's placeholders...
    assert config["AVIARY_ENV"] == "production"
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(values)
    for name in ("AUTH_SECRET", "OPERATOR_KEY", "S3_SECRET_KEY"):
        assert f"AVIARY_{name} is a built-in or example value" in str(refused.value)
    # ...and, filled in as the template says, they make valid settings.
    settings = Settings.model_validate(filled_in(values))
    assert settings.env == "production"
    assert settings.host == "0.0.0.0"
    assert settings.namespace == config["AVIARY_NAMESPACE"]


def test_images() -> None:
    for layer, expected in (
        ("base", "aviary:local"),
        ("overlays/local", "aviary:local"),
        ("overlays/production", f"registry.example.com/aviary/aviary:{version('aviary-server')}"),
    ):
        for name, deployment in of_kind(render(layer), "Deployment").items():
            assert only_container(deployment)["image"] == expected, (layer, name)


@pytest.mark.parametrize("layer", OVERLAYS)
def test_overlays_put_everything_in_the_aviary_namespace(layer: str) -> None:
    for obj in render(layer):
        assert obj["metadata"]["namespace"] == "aviary", obj["metadata"]["name"]


def test_production_runs_at_least_three_api_pods_and_two_workers() -> None:
    objects = render("overlays/production")
    for hpa in of_kind(objects, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 3
    for obj in of_kind(objects, "ScaledObject").values():
        assert obj["spec"]["minReplicaCount"] >= 2


# ---- what Aviary runs on, clustered (backing/, part of production) ---------------------------


def secret_url(key: str) -> Any:
    return urlsplit(secret_example()["stringData"][key])


def one_per_node(affinity: Obj, labels: dict[str, str]) -> None:
    """Pods with `labels` never share a Kubernetes node (a node lost takes one member)."""
    (term,) = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == labels


def one_at_a_time(objects: list[Obj], labels: dict[str, str]) -> None:
    """A PodDisruptionBudget lets a drain take one of these pods at a time."""
    budgets = [
        b
        for b in of_kind(objects, "PodDisruptionBudget").values()
        if b["spec"]["selector"]["matchLabels"] == labels
    ]
    assert len(budgets) == 1, labels
    assert budgets[0]["spec"]["maxUnavailable"] == 1


def test_production_includes_the_clustered_backing_services_and_local_does_not() -> None:
    def names(layer: str) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in render(layer)}

    backing = names(BACKING)
    assert {("RabbitmqCluster", "rabbitmq"), ("MongoDBCommunity", "mongo")} <= backing
    assert ("StatefulSet", "minio") in backing
    assert backing <= names("overlays/production")
    assert not backing & names("overlays/local")


def test_rabbitmq_is_a_three_node_cluster_behind_the_amqp_url() -> None:
    objects = render("overlays/production")
    (cluster,) = of_kind(objects, "RabbitmqCluster").values()
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    name, spec = cluster["metadata"]["name"], cluster["spec"]
    assert spec["replicas"] == 3
    assert spec["image"].startswith("rabbitmq:3.13")  # the version of deploy/compose.yaml
    assert "cluster_partition_handling = pause_minority" in spec["rabbitmq"]["additionalConfig"]
    assert set(spec["resources"]) == {"requests", "limits"}
    # The operator labels the pods app.kubernetes.io/name=<cluster>.
    one_per_node(spec["affinity"], {"app.kubernetes.io/name": name})
    one_at_a_time(objects, {"app.kubernetes.io/name": name})
    # The operator's client Service is named after the cluster: the services' AMQP URL.
    assert secret_url("AVIARY_AMQP_URL").hostname == name
    assert secret_url("AVIARY_AMQP_URL").port == 5672
    # Every quorum queue gets a member on each node.
    settings = Settings.model_validate(
        filled_in({k.removeprefix("AVIARY_").lower(): v for k, v in config_data(objects).items()})
    )
    assert settings.quorum_group_size == spec["replicas"]


def test_mongo_is_a_three_member_replica_set_with_a_user_of_aviarys_databases_only() -> None:
    objects = render("overlays/production")
    (mongo,) = of_kind(objects, "MongoDBCommunity").values()
    assert mongo["apiVersion"] == "mongodbcommunity.mongodb.com/v1"
    name, spec = mongo["metadata"]["name"], mongo["spec"]
    assert spec["members"] == 3 and spec["type"] == "ReplicaSet"
    assert int(spec["version"].split(".")[0]) >= 8  # dispatch's client bulkWrite
    assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
    (user,) = spec["users"]
    namespace = Settings(namespace=config_data(objects)["AVIARY_NAMESPACE"])
    assert {(r["name"], r["db"]) for r in user["roles"]} == {
        ("readWrite", namespace.database_name(service)) for service in SERVICE_PORTS
    }
    # The operator names the pods <name>-N, their headless Service <name>-svc, the replica set
    # <name>, and labels the pods app=<name>-svc.
    url = secret_url("AVIARY_MONGO_URL")
    assert url.username == user["name"]
    hosts = url.netloc.rsplit("@", 1)[1].split(",")
    assert hosts == [f"{name}-{i}.{name}-svc:27017" for i in range(spec["members"])]
    assert parse_qs(url.query) == {"replicaSet": [name], "authSource": [user["db"]]}
    pods = {"app": f"{name}-svc"}
    one_per_node(spec["statefulSet"]["spec"]["template"]["spec"]["affinity"], pods)
    one_at_a_time(objects, pods)


def test_minio_runs_distributed_on_four_nodes_behind_the_s3_endpoint() -> None:
    objects = render("overlays/production")
    minio = of_kind(objects, "StatefulSet")["minio"]
    spec = minio["spec"]
    assert spec["replicas"] == 4
    assert spec["podManagementPolicy"] == "Parallel"  # the nodes wait for each other
    pods = spec["selector"]["matchLabels"]
    assert pods.items() <= spec["template"]["metadata"]["labels"].items()
    services = of_kind(objects, "Service")
    headless = services[spec["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"] == pods
    # `minio server` lists every node's drive: minio-0 .. minio-3 of the headless Service.
    (container,) = pod_spec(minio)["containers"]
    args = container["args"]
    assert args[:2] == [
        "server",
        f"http://minio-{{0...{spec['replicas'] - 1}}}.{spec['serviceName']}:9000/data",
    ]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] in {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
    assert container["envFrom"] == [{"secretRef": {"name": "aviary-minio"}}]
    one_per_node(pod_spec(minio)["affinity"], pods)
    one_at_a_time(objects, pods)
    # The base configuration's endpoint is this Service.
    host, port = config_data(render("base"))["AVIARY_S3_ENDPOINT"].split(":")
    assert services[host]["spec"]["selector"] == pods
    assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH")
@pytest.mark.parametrize("layer", LAYERS)
def test_render_matches_kubectl_kustomize(layer: str) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    output = subprocess.run(
        [kubectl, "kustomize", str(K8S / layer)], check=True, capture_output=True, text=True
    ).stdout

    def key(obj: Obj) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    expected = sorted((d for d in yaml.safe_load_all(output) if d), key=key)
    assert sorted(render(layer), key=key) == expected
