"""An operator's redaction model against running services: a project may choose it only where
the deployment configures one; an ingest that has one blurs what it finds before annotators
see the picture; a model that cannot be used holds ingest's start (never ready, the reason
logged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aviary_devkit.processes import ServiceSet
from aviary_devkit.tiny_onnx import detector, manifest
from tests.support import Api, workspace
from tests.unit.test_redaction import decode, jpeg
from tests.unit.test_redaction_model import dark_with_a_bright_patch, detail

OTHER_PORTS = 10_500  # the second ingest's offset (the shared services use 10,000)
BY_THE_MODEL = {"mode": "everyone", "keep_original": False, "detector": "model"}


def model_folder(folder: Path, **fields: Any) -> Path:
    folder.mkdir()
    (folder / "model.onnx").write_bytes(detector())
    body = manifest("faces", **({"class_map": {"thing": "face"}} | fields))
    (folder / "manifest.json").write_text(json.dumps(body))
    return folder


@contextmanager
def ingest_with(services: ServiceSet, folder: Path, logs: Path) -> Iterator[ServiceSet]:
    """A second ingest process on the same namespace, configured with the model in `folder`."""
    settings = services.settings.model_copy(update={"redaction_model_dir": folder})
    other = ServiceSet(settings, logs, port_offset=OTHER_PORTS)
    other.start("ingest")
    try:
        other.wait_ready("ingest")
        yield other
    finally:
        other.stop_all()


def test_a_project_chooses_the_model_only_where_the_deployment_has_one(api: Api) -> None:
    client, vendor = api.client(), api.org("vendor")
    for detector_name in ("model", "both"):
        body = {"privacy": {"redaction": {**BY_THE_MODEL, "detector": detector_name}}}
        response = api.call(
            "POST",
            "ingest",
            "/v1/projects",
            client.token,
            json={
                "name": "Streets",
                "ontology": {"classes": [{"id": 1, "name": "car"}]},
                "vendors": [{"vendor_id": vendor, "share": 1.0}],
                **body,
            },
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "no_redaction_model"


def test_the_operator_model_blurs_what_the_cascades_miss(
    api: Api, services: ServiceSet, tmp_path: Path
) -> None:
    picture = dark_with_a_bright_patch()
    with ingest_with(services, model_folder(tmp_path / "model"), tmp_path / "logs") as other:
        ws = workspace(Api(other), images=0, privacy={"redaction": BY_THE_MODEL})
        response = Api(other).upload(ws.client, ws.batch_id, jpeg(picture))
    assert response.status_code == 201, response.text
    assert response.json()["blurred"] == {"faces": 1, "plates": 0, "frames": None}
    task = api.next_task(ws.annotators[0]).json()
    seen = decode(api.http.get(task["image"]["url"]).content)
    assert detail(seen) < 0.05 * detail(picture)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"class_map": {"thing": "car"}}, "maps no label to face or plate"),
        ({"task": "segment"}, "task is segment"),
    ],
)
def test_a_model_that_cannot_be_used_holds_ingest_s_start(
    services: ServiceSet, tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    settings = services.settings.model_copy(
        update={"redaction_model_dir": model_folder(tmp_path / "model", **fields)}
    )
    other = ServiceSet(settings, tmp_path / "logs", port_offset=OTHER_PORTS)
    other.start("ingest")
    try:
        with pytest.raises(TimeoutError):
            other.wait_ready("ingest", timeout=8)
    finally:
        other.stop_all()
    waits = [
        json.loads(line)
        for line in (tmp_path / "logs" / "ingest.log").read_text().splitlines()
        if '"redaction_model.wait"' in line
    ]
    assert waits and all(reason in w["error"] for w in waits)
