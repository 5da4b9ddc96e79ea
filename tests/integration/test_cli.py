"""The `aviary` command line through Typer's runner, against the running services."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aviary.cli import app, json_first
from aviary_devkit.processes import ROOT, ServiceSet
from shared.opscli import app as ops_app
from shared.settings import SERVICE_PORTS, get_settings
from shared.store.storage import ObjectStorage
from tests.support import Api, jpeg, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def endpoint_args(services: ServiceSet) -> list[str]:
    return [
        f"--{n}-url={services.url(n)}" for n in ("ingest", "dispatch", "review", "export", "assist")
    ]


def run(services: ServiceSet, token: str, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(
        app, ["--json", f"--token={token}", *endpoint_args(services), *args]
    )
    try:
        output = json.loads(result.stdout)
    except ValueError:
        output = result.stdout
    return result.exit_code, output


def test_admin_creates_organisations_and_issues_working_tokens(
    services: ServiceSet, api: Api
) -> None:
    code, org = run(
        services, api.operator, "admin", "org", "create", "Acme Robotics", "--kind", "client"
    )
    assert code == 0 and org["kind"] == "client"
    code, listed = run(services, api.operator, "admin", "org", "list")
    assert code == 0 and org["id"] in {o["id"] for o in listed}
    code, token = run(
        services,
        api.operator,
        "admin",
        "token",
        "issue",
        "--org",
        org["id"],
        "--role",
        "client",
        "--subject",
        "ci",
    )
    assert code == 0
    assert api.call("GET", "ingest", "/v1/projects", token["token"]).status_code == 200
    code, refused = run(services, token["token"], "admin", "org", "list")
    assert code == 5 and refused["status"] == 403


def test_a_client_makes_a_project_from_files_and_the_operator_invites_its_people(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    client = api.client()
    other_name = f"southwind {uuid.uuid4().hex[:8]}"
    vendor, other = api.org("vendor"), api.org("vendor", other_name)
    ontology = tmp_path / "ontology.yaml"
    ontology.write_text(
        "classes:\n"
        "  - {id: 1, name: car}\n"
        "  - id: 2\n"
        "    name: pedestrian\n"
        "    kind: polygon\n"
        "    attributes: [{name: walking, type: boolean}]\n"
    )
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"review": {"mode": "auto"}, "piece_rate": 0.1}))
    # A vendor by id, another by its name.
    args = ["--ontology", str(ontology), "--vendor", vendor, "--vendor", f"{other_name}:0.25"]
    code, project = run(
        services, client.token, "project", "create", "Streets", *args, "--spec", str(spec)
    )
    assert code == 0, project
    assert {v["vendor_id"]: v["share"] for v in project["vendors"]} == {vendor: 0.75, other: 0.25}
    assert (project["review"]["mode"], project["piece_rate"]) == ("auto", 0.1)
    assert [c["kind"] for c in project["ontology"]["classes"]] == ["bbox", "polygon"]

    code, listed = run(services, client.token, "project", "list")
    assert code == 0 and [p["id"] for p in listed] == [project["id"]]
    code, vendors = run(services, client.token, "project", "vendors")
    assert code == 0 and {"id": other, "name": other_name} in vendors
    code, unknown = run(
        services, client.token, "project", "create", "X", "--ontology", str(ontology),
        "--vendor", "nobody at all",
    )  # fmt: skip
    assert code == 5 and "is no vendor's id or name" in unknown["error"]
    api.org("vendor", other_name + " twin"), api.org("vendor", other_name + " twin")
    code, twins = run(
        services, client.token, "project", "create", "X", "--ontology", str(ontology),
        "--vendor", other_name + " twin",
    )  # fmt: skip
    assert code == 5 and "names several vendors" in twins["error"]

    # The next version: what is given changes, the rest (review, formats, vendors) stays.
    rate = tmp_path / "rate.yaml"
    rate.write_text("piece_rate: 0.2\n")
    code, edited = run(
        services, client.token, "project", "edit", project["id"], "--name", "Streets 2",
        "--spec", str(rate),
    )  # fmt: skip
    assert code == 0, edited
    assert (edited["version"], edited["name"], edited["piece_rate"]) == (2, "Streets 2", 0.2)
    assert edited["review"]["mode"] == "auto" and edited["vendors"] == project["vendors"]
    assert edited["ontology"] == project["ontology"]
    # --json after the command, as `aviary` itself takes it (json_first).
    argv = [f"--token={client.token}", *endpoint_args(services), "project", "show"]
    shown = CliRunner().invoke(app, json_first([*argv, project["id"], "--json"]))
    assert shown.exit_code == 0 and json.loads(shown.stdout)["name"] == "Streets 2"
    text = CliRunner().invoke(app, [*argv, project["id"]])
    assert f"{other_name} (25%)" in text.stdout  # vendors by name

    # What the API refuses names the field; an unreadable file says so; nothing is made.
    circle = tmp_path / "circle.yaml"
    circle.write_text("[{id: 1, name: wheel, kind: circle}]")
    code, refused = run(
        services, client.token, "project", "create", "X", "--ontology", str(circle),
        "--vendor", vendor,
    )  # fmt: skip
    assert code == 5 and refused["status"] == 422, refused
    broken = tmp_path / "broken.yaml"
    broken.write_text("classes: [unclosed")
    code, unreadable = run(
        services, client.token, "project", "create", "X", "--ontology", str(broken),
        "--vendor", vendor,
    )  # fmt: skip
    assert code == 5 and "not a readable ontology" in unreadable["error"]
    assert len(run(services, client.token, "project", "list")[1]) == 1

    code, invitation = run(
        services, api.operator, "people", "invite", "Ana", "--org", vendor, "--role", "annotator"
    )
    assert code == 0 and invitation["page"] == services.url("dispatch") + "/ui/label.html"
    assert invitation["subject"] == "Ana" and invitation["role"] == "annotator"
    assert api.next_task(invitation["token"], wait_s=0).status_code in (200, 204)
    code, wrong = run(
        services, api.operator, "people", "invite", "B", "--org", vendor, "--role", "x"
    )
    assert code == 2, wrong


def test_push_reports_each_file_and_a_rerun_skips_what_is_in(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    ws = workspace(api, images=0)
    (tmp_path / "day1").mkdir()
    for i in range(3):
        (tmp_path / "day1" / f"cam_{i}.jpg").write_bytes(jpeg(300 + i))
    (tmp_path / "copy_of_cam_0.jpg").write_bytes(jpeg(300))
    (tmp_path / "notes.jpg").write_bytes(b"this is not a picture")
    code, summary = run(
        services, ws.client.token, "push", str(tmp_path), "--project", ws.project["id"]
    )
    assert code == 3  # some files were refused
    assert (summary["uploaded"], summary["duplicates"], summary["skipped"]) == (3, 1, 0)
    assert [(r["path"], r["code"]) for r in summary["refused"]] == [("notes.jpg", "not_an_image")]
    code, again = run(
        services, ws.client.token, "push", str(tmp_path), "--project", ws.project["id"]
    )
    assert code == 3 and again["skipped"] == 4 and again["uploaded"] == 0
    assert again["batch_id"] == summary["batch_id"]  # resumes into the same open batch
    (tmp_path / "notes.jpg").unlink()
    code, done = run(
        services, ws.client.token, "push", str(tmp_path), "--project", ws.project["id"], "--seal"
    )
    assert code == 0 and done["sealed"]
    batch = api.ok("GET", "ingest", f"/v1/batches/{summary['batch_id']}", ws.client.token)
    assert batch["status"] == "sealed" and batch["item_count"] == 3


def test_a_push_killed_midway_resumes_with_only_the_rest(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    ws = workspace(api, images=0)
    total = 30
    for i in range(total):
        (tmp_path / f"img_{i:03d}.jpg").write_bytes(jpeg(500 + i))
    journal = tmp_path / f".aviary-push-{ws.project['id']}.jsonl"
    env = {**os.environ, "AVIARY_TOKEN": ws.client.token}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aviary.cli",
            *endpoint_args(services),
            "push",
            str(tmp_path),
            "--project",
            ws.project["id"],
            "--concurrency",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"item_id"') >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = journal.read_text().count('"item_id"')
    assert 5 <= before < total, "the kill must land mid-push"
    code, summary = run(
        services, ws.client.token, "push", str(tmp_path), "--project", ws.project["id"]
    )
    assert code == 0
    assert summary["skipped"] == before
    # Only the rest is sent; at most the one upload in flight at the kill comes back a duplicate.
    assert summary["uploaded"] + summary["duplicates"] == total - before
    assert summary["duplicates"] <= 1
    batch = api.ok("GET", "ingest", f"/v1/batches/{summary['batch_id']}", ws.client.token)
    assert batch["item_count"] == total


def ready_delivery(api: Api, ws: Any) -> dict[str, Any]:
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    task = api.next_task(ws.annotators[0]).json()
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200

    def poll() -> dict[str, Any] | None:
        for d in api.ok(
            "GET",
            "export",
            "/v1/deliveries",
            ws.client.token,
            params={"project_id": ws.project["id"]},
        ):
            if d["status"] == "ready":
                return dict(d)
        return None

    return dict(api.wait_for(poll))


def rewrite_zip(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The same package with one file's content changed (and its manifest left as it was)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.namelist():
            content = src.read(entry)
            dst.writestr(entry, change(content) if entry == name else content)
    return out.getvalue()


def test_pull_verifies_and_a_tampered_delivery_fails(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    ws = workspace(api, images=1, review={"mode": "auto"})
    delivery = ready_delivery(api, ws)
    code, pulled = run(services, ws.client.token, "pull", delivery["id"], "--out", str(tmp_path))
    assert code == 0 and pulled["verified"]
    code, checked = run(services, ws.client.token, "verify", pulled["path"])
    assert code == 0 and checked["counts"]["images"] == 1

    # Someone alters the package in storage: pull --verify must refuse it.
    settings = services.settings
    key = f"{ws.client.org_id}/{ws.project['id']}/{delivery['id']}.zip"
    original = Path(pulled["path"]).read_bytes()
    tampered = rewrite_zip(
        original,
        "coco/annotations.json",
        lambda data: data.replace(b"[10.0,10.0,50.0,40.0]", b"[10.0,10.0,60.0,40.0]"),
    )
    assert b"60.0" in zipfile.ZipFile(io.BytesIO(tampered)).read("coco/annotations.json")
    asyncio.run(ObjectStorage(settings).put_bytes(settings.deliveries_bucket, key, tampered))
    code, failed = run(
        services, ws.client.token, "pull", delivery["id"], "--out", str(tmp_path / "again")
    )
    assert code == 4 and "verification" in failed["error"]
    local = tmp_path / "tampered.zip"
    local.write_bytes(tampered)
    code, _ = run(services, ws.client.token, "verify", str(local))
    assert code == 4
    code, missing = run(services, ws.client.token, "pull", "dlv_nope")
    assert code == 5 and missing["status"] == 404


def test_status_shows_each_batchs_progress(services: ServiceSet, api: Api) -> None:
    ws = workspace(api, images=2)
    code, status = run(services, ws.client.token, "status", "--project", ws.project["id"])
    assert code == 0
    assert [(b["batch_id"], b["received"]) for b in status["batches"]] == [(ws.batch_id, 2)]


def test_status_without_credentials_is_a_usage_error(
    services: ServiceSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AVIARY_TOKEN", raising=False)
    monkeypatch.delenv("AVIARY_OPERATOR_KEY", raising=False)
    result = CliRunner().invoke(app, ["--json", *endpoint_args(services), "status"])
    assert result.exit_code == 2
    assert "no credentials" in json.loads(result.stdout)["error"]


def test_version_is_the_installed_distributions() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"aviary {version('aviary-client')}"


def ops(services: ServiceSet, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, Any]:
    """`aviary-ops` in the services' namespace (it reads the services' own settings)."""
    monkeypatch.setenv("AVIARY_NAMESPACE", services.settings.namespace)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(ops_app, ["--json", *args])
    finally:
        get_settings.cache_clear()
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, result.stdout


def test_ops_shows_queue_depths_consumers_and_dead_letters(
    services: ServiceSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, status = ops(services, monkeypatch, "queues")
    assert code == 0
    assert {q["service"] for q in status["queues"]} == set(SERVICE_PORTS)
    assert all(q["consumers"] >= 1 for q in status["queues"])
    assert all(q["dead_letters"] == 0 for q in status["queues"])


def test_ops_replays_dead_letters_and_refuses_unknown_services(
    services: ServiceSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, replayed = ops(services, monkeypatch, "dlq", "replay", "export")
    assert (code, replayed) == (0, {"service": "export", "replayed": 0})
    code, refused = ops(services, monkeypatch, "dlq", "replay", "billing")
    assert code == 2 and "unknown service" in refused["error"]


def test_ops_says_when_the_broker_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVIARY_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(ops_app, ["--json", "queues"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "broker not reachable" in json.loads(result.stdout)["error"]
