"""The client distribution stands alone, and the services speak its contracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from aviary.client import AsyncClient, AviaryError
from aviary.client.config import Endpoints
from aviary.contracts.errors import ErrorBody
from aviary.contracts.ingest import ProjectCreate, ProjectRead
from aviary.contracts.roles import Role as ContractRole
from shared.errors import StartupError, error_body
from shared.security.auth import Role
from shared.settings import Settings
from shared.web.pages import mount_pages, web_root

SERVER_MODULES = ("fastapi", "starlette", "pymongo", "motor", "aio_pika", "minio", "PIL", "numpy")
OUR_SERVER_PACKAGES = ("shared", "services", "aviary_devkit")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["aviary.contracts", "aviary.client", "aviary.cli"])
def test_the_client_side_loads_no_server_library(module: str) -> None:
    # A fresh interpreter: this one has the server loaded already.
    probe = (
        f"import json, sys, importlib; importlib.import_module({module!r}); "
        "import aviary.contracts.ingest, aviary.contracts.export, aviary.contracts.review, "
        "aviary.contracts.dispatch, aviary.contracts.webhooks; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    )
    loaded = json.loads(out.stdout)
    leaked = [
        name for name in loaded if name.split(".")[0] in (*SERVER_MODULES, *OUR_SERVER_PACKAGES)
    ]
    assert leaked == []
    assert "pydantic" in loaded


def test_every_error_answer_parses_as_the_contracts_error_body() -> None:
    for details in (None, {"field": "name"}, [{"loc": ["body"]}]):
        body = ErrorBody.model_validate(error_body("not_found", "no such project", details))
        assert (body.error.code, body.error.message, body.error.details) == (
            "not_found",
            "no such project",
            details,
        )


def test_the_services_roles_are_the_contracts_roles() -> None:
    assert Role is ContractRole


async def test_missing_pages_refuse_the_start_naming_the_folder(tmp_path: Path) -> None:
    app, settings = FastAPI(), Settings()
    with pytest.raises(StartupError, match=f"web assets missing: {tmp_path / 'common'}"):
        mount_pages(app, settings, "home", web=tmp_path)
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "style.css").write_text("body {}")
    with pytest.raises(StartupError, match=f"web assets missing: {tmp_path / 'home'}"):
        mount_pages(app, settings, "home", web=tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "other.html").write_text("<!doctype html>")
    with pytest.raises(StartupError, match=r"home\.html"):
        mount_pages(app, settings, "home", web=tmp_path)
    (tmp_path / "home" / "home.html").write_text("<!doctype html>")
    mount_pages(app, settings, "home", web=tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as http:
        page = await http.get("/ui/home.html")
        style = await http.get("/ui/common/style.css")
    assert page.status_code == 200 and page.text == "<!doctype html>"
    assert style.status_code == 200 and style.text == "body {}"


def test_the_installed_pages_are_the_checkouts_web_folder() -> None:
    # An editable install maps the package aviary_web onto web/, so edits are served as made.
    assert web_root() == ROOT / "web"


def strict_models_within(model: type[BaseModel]) -> set[str]:
    """Models held by `model`'s fields, however nested, that forbid unknown fields."""
    seen: set[type[BaseModel]] = set()
    stack: list[object] = [model]
    while stack:
        candidate = stack.pop()
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if candidate not in seen:
                seen.add(candidate)
                stack.extend(field.annotation for field in candidate.model_fields.values())
        else:
            stack.extend(get_args(candidate))
    return {m.__name__ for m in seen if m.model_config.get("extra") == "forbid"}


NEWER_PROJECT = {
    "id": "prj_1",
    "org_id": "org_1",
    "name": "streets",
    "version": 3,
    "ontology": {
        "classes": [{"id": 1, "name": "car", "kind": "bbox", "icon": "car.svg"}],
        "hierarchy": [],
    },
    "instructions": "",
    "overlap": 1,
    "vendors": [{"vendor_id": "org_v", "share": 1.0, "tier": "gold"}],
    "review": {"mode": "all", "escalation": "lead"},
    "reject_reasons": [],
    "piece_rate": 0.1,
    "priority": 0,
    "delivery_formats": ["coco"],
    "include_images": False,
    "include_people": False,
    "webhook_url": None,
    "webhook_secret_set": False,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T10:00:00Z",
    "region": "eu",
}


async def test_an_sdk_reads_an_answer_of_a_newer_server_that_added_fields() -> None:
    # The premise: the project's answer holds models that forbid unknown fields (they are
    # also request bodies), so plain validation would refuse a newer server's answer.
    assert {"OntologyIn", "OntologyClass"} <= strict_models_within(ProjectRead)
    with pytest.raises(ValidationError):
        ProjectRead.model_validate(NEWER_PROJECT)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/projects/prj_1":
            return httpx.Response(200, json=NEWER_PROJECT)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no", "at": 1}})

    transport = httpx.MockTransport(answer)
    async with AsyncClient("t", Endpoints(), transport=transport) as client:
        project = await client.get_project("prj_1")
        with pytest.raises(AviaryError) as refused:
            await client.get_project("prj_2")
    assert project.ontology.classes[0].name == "car"
    assert project.vendors[0].share == 1.0 and project.review.mode == "all"
    assert refused.value.code == "not_found"


def test_a_project_left_without_formats_or_reasons_gets_its_media_kinds_usual_ones() -> None:
    vendors = [{"vendor_id": "org_v", "share": 1.0}]
    assert ProjectCreate(name="p", vendors=vendors).delivery_formats == ["coco"]
    audio = ProjectCreate(name="p", vendors=vendors, media="audio")
    assert audio.delivery_formats == ["nemo"]
    assert "wrong speaker" in audio.reject_reasons
    assert ProjectCreate(name="p", vendors=vendors).reject_reasons[0] == "missing object"
    chosen = ProjectCreate(name="p", vendors=vendors, media="audio", delivery_formats=["rttm"])
    assert chosen.delivery_formats == ["rttm"]
    with pytest.raises(ValidationError):  # an empty list sent is not "left out"
        ProjectCreate(name="p", vendors=vendors, delivery_formats=[])
