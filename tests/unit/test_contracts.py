"""The client distribution stands alone, and the services speak its contracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aviary.contracts.errors import ErrorBody
from aviary.contracts.roles import Role as ContractRole
from shared.auth import Role
from shared.errors import StartupError, error_body
from shared.pages import mount_pages
from shared.settings import Settings

SERVER_MODULES = ("fastapi", "starlette", "pymongo", "motor", "aio_pika", "minio", "PIL", "numpy")
OUR_SERVER_PACKAGES = ("shared", "services", "aviary_devkit")


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


def test_missing_pages_refuse_the_start_naming_the_folder(tmp_path: Path) -> None:
    app, settings = FastAPI(), Settings()
    with pytest.raises(StartupError, match=f"web assets missing: {tmp_path}"):
        mount_pages(app, settings, tmp_path, "home.html")
    (tmp_path / "other.html").write_text("<!doctype html>")
    with pytest.raises(StartupError, match=r"home\.html"):
        mount_pages(app, settings, tmp_path, "home.html")
    (tmp_path / "home.html").write_text("<!doctype html>")
    mount_pages(app, settings, tmp_path, "home.html")
    with TestClient(app) as http:
        page = http.get("/ui/home.html")
    assert page.status_code == 200 and page.text == "<!doctype html>"
