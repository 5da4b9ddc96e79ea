"""Offline checks of deploy/: the compose file, the Dockerfile and the container healthcheck.

No docker engine is needed: the compose file is parsed with PyYAML and validated against the
compose-spec JSON schema vendored in deploy/ (from the docker-compose 1.29.2 wheel).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from shared.settings import SERVICE_PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INFRA = ("rabbitmq", "mongo", "minio")
# The clustered shape (as deploy/k8s/backing and `make up CLUSTER=1`): nodes of each.
RABBITMQ_NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
MONGO_MEMBERS = ("mongo", "mongo-2", "mongo-3")
MINIO_NODES = ("minio", "minio-2", "minio-3", "minio-4")
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASS|KEY|TOKEN|USER)$")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, ${NAME:+x}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?[^}]*\}")
REQUIRED_VAR = r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}"


@functools.cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    svc = compose()["services"][name]
    assert isinstance(svc, dict)
    return svc


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@functools.cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    schema = json.loads((DEPLOY / "compose-spec.schema.json").read_text(encoding="utf-8"))
    # The schema declares draft 2019-09 (as the pre-https URI the library no longer maps).
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_every_service_exists_and_is_built_from_the_dockerfile() -> None:
    for name in SERVICE_PORTS:
        svc = service(name)
        build = svc["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert (ROOT / build["dockerfile"]).is_file()
        assert svc["command"][0] == f"services.{name}", name
        assert svc["command"][1:] in ([], ["all"], ["api"], ["worker"]), name


def test_services_start_only_after_healthy_infrastructure() -> None:
    for name in INFRA:
        check = service(name)["healthcheck"]
        assert check["test"] and not check.get("disable", False), name
    for name in SERVICE_PORTS:
        depends_on = service(name)["depends_on"]
        for dep in INFRA:
            assert depends_on[dep]["condition"] == "service_healthy", (name, dep)


def test_mongo_runs_an_initiated_three_member_replica_set() -> None:
    for name in MONGO_MEMBERS:
        member = service(name)
        assert member["image"].startswith("mongo:8")  # dispatch submits with a client bulkWrite
        command = member["command"]
        assert command[command.index("--replSet") + 1] == "rs0"
        assert "--bind_ip_all" in command
        assert member["healthcheck"]["test"], name
    mongo = service("mongo")
    # The first member initiates the set once the others answer.
    for other in MONGO_MEMBERS[1:]:
        assert mongo["depends_on"][other]["condition"] == "service_healthy"
    probe = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate(" in probe and "'rs0'" in probe and "db.hello().primary" in probe
    for name in MONGO_MEMBERS:
        assert f"host: '{name}:27017'" in probe, name
    hosts = ",".join(f"{name}:27017" for name in MONGO_MEMBERS)
    for name in aviary_containers():
        url = environment(service(name))["AVIARY_MONGO_URL"]
        assert url == f"mongodb://{hosts}/?replicaSet=rs0", name


def aviary_containers() -> list[str]:
    """Every container of the services (two of each)."""
    return [n for n in compose()["services"] if n.removesuffix("-2") in SERVICE_PORTS]


def test_rabbitmq_runs_three_clustered_nodes_and_services_know_them_all() -> None:
    conf = (DEPLOY / "rabbitmq" / "cluster.conf").read_text(encoding="utf-8")
    listed = re.findall(
        r"^cluster_formation\.classic_config\.nodes\.\d+ = rabbit@(\S+)$", conf, re.M
    )
    assert listed == list(RABBITMQ_NODES)
    assert "cluster_formation.peer_discovery_backend = classic_config" in conf
    assert "cluster_partition_handling = pause_minority" in conf
    data_volumes = set()
    for name in RABBITMQ_NODES:
        node = service(name)
        assert node["image"] == service("rabbitmq")["image"]
        assert node["hostname"] == name  # the node is rabbit@<hostname>
        env = environment(node)
        assert re.fullmatch(REQUIRED_VAR, env["RABBITMQ_ERLANG_COOKIE"]), name
        mounts = {v.split(":")[1]: v.split(":")[0] for v in node["volumes"]}
        assert mounts["/etc/rabbitmq/conf.d/20-cluster.conf"] == "./rabbitmq/cluster.conf"
        data_volumes.add(mounts["/var/lib/rabbitmq"])
        if name != "rabbitmq":  # they join the first node once it is up
            assert node["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert len(data_volumes) == len(RABBITMQ_NODES)
    for name in aviary_containers():
        env = environment(service(name))
        urls = env["AVIARY_AMQP_URLS"].split(",")
        assert [u.split("@", 1)[1] for u in urls] == [f"{n}:5672/" for n in RABBITMQ_NODES]
        assert env["AVIARY_QUORUM_GROUP_SIZE"] == str(len(RABBITMQ_NODES))
        for peer in RABBITMQ_NODES:
            assert service(name)["depends_on"][peer]["condition"] == "service_healthy"


def test_minio_runs_distributed_on_four_nodes() -> None:
    data_volumes = set()
    for i, name in enumerate(MINIO_NODES, 1):
        node = service(name)
        assert node["image"] == service("minio")["image"]
        # Every node lists the four drives: minio-1 .. minio-4.
        assert node["command"][:2] == [
            "server",
            f"http://minio-{{1...{len(MINIO_NODES)}}}:9000/data",
        ]
        hostnames = {name, *node.get("networks", {}).get("default", {}).get("aliases", [])}
        assert f"minio-{i}" in hostnames, name
        (volume,) = node["volumes"]
        source, target = volume.split(":")
        assert target == "/data"
        data_volumes.add(source)
    assert len(data_volumes) == len(MINIO_NODES)


def test_two_containers_of_each_service() -> None:
    for name, port in SERVICE_PORTS.items():
        first, second = service(name), service(f"{name}-2")
        assert second["command"] == first["command"]
        assert environment(second) == environment(first)
        assert environment(second)["AVIARY_PORT"] == str(port)
        assert second["ports"] == [f"127.0.0.1:{port + 10}:{port}"]


def test_ports_are_published_on_loopback_only() -> None:
    for name, svc in compose()["services"].items():
        assert svc.get("network_mode") != "host", name
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+(/tcp|/udp)?", str(port)), (name, port)
    for name, port_number in SERVICE_PORTS.items():
        svc = service(name)
        assert f"127.0.0.1:{port_number}:{port_number}" in svc["ports"], name
        assert environment(svc)["AVIARY_PORT"] == str(port_number), name


def test_no_secret_has_a_literal_default() -> None:
    raw = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    for match in INTERPOLATION.finditer(raw):
        if SECRET_NAME.search(match["name"]):
            assert match["op"] == ":?", f"{match[0]} must be required (${{VAR:?message}})"
    for name, svc in compose()["services"].items():
        for key, value in environment(svc).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(REQUIRED_VAR, value), (name, key, value)
            for url in value.split(","):  # one URL, or a list of them
                if "://" in url and "@" in url:  # credentials inside a URL
                    userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
                    assert re.fullmatch(f"{REQUIRED_VAR}:{REQUIRED_VAR}", userinfo), (name, key)
    for name in SERVICE_PORTS:
        env = environment(service(name))
        assert env["AVIARY_AUTH_SECRET"].startswith("${AVIARY_AUTH_SECRET:?")
        assert env["AVIARY_OPERATOR_KEY"].startswith("${AVIARY_OPERATOR_KEY:?")


def test_service_environment_names_real_settings() -> None:
    fields = {f"AVIARY_{field.upper()}" for field in Settings.model_fields}
    for name in SERVICE_PORTS:
        env = environment(service(name))
        assert set(env) <= fields, (name, set(env) - fields)
        assert env["AVIARY_HOST"] == "0.0.0.0"
        assert env["AVIARY_S3_ENDPOINT"] == "minio:9000"


def test_data_lives_in_named_volumes() -> None:
    declared = set(compose()["volumes"])
    for name in (*RABBITMQ_NODES, *MONGO_MEMBERS, *MINIO_NODES):
        volumes = service(name)["volumes"]
        assert volumes, name
        for volume in volumes:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("./"):  # a configuration file from deploy/, read-only
                assert volume.endswith(":ro") and (DEPLOY / source).is_file(), (name, volume)
            else:
                assert source in declared, (name, volume)


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    froms = [args for word, args in instructions if word == "FROM"]
    assert len(froms) >= 2
    assert any(args.endswith(" AS builder") for args in froms)
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    checks = [args for word, args in instructions if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "healthcheck.py" in checks[0]
    exposed = {int(p) for word, args in instructions if word == "EXPOSE" for p in args.split()}
    assert exposed == set(SERVICE_PORTS.values())
    env = " ".join(args for word, args in instructions if word == "ENV")
    assert "AVIARY_HOST=0.0.0.0" in env
    assert ("ENTRYPOINT", '["python", "-m"]') in instructions
    for word, args in instructions:
        if word == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source


# -- the container healthcheck script ------------------------------------------------------------


@functools.cache
def healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """A local server answering /healthz with the status at the head of the returned list."""
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_script_reports_the_healthz_answer(
    health_server: tuple[int, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, status = health_server
    module = healthcheck_module()
    monkeypatch.setenv("AVIARY_PORT", str(port))
    assert module.port() == port
    assert module.main() == 0
    status[0] = 503
    assert module.main() == 1


def test_healthcheck_script_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVIARY_PORT", "1")  # nothing listens on port 1
    assert healthcheck_module().main() == 1
