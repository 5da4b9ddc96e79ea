"""What users install is what is tested: both wheels built as `make dist` builds them, each
installed into a fresh virtualenv outside the checkout, the services started from the
installed server package against the embedded stack, and the client wheel alone used as a
client integration would use it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from aviary_devkit.dist import (
    SERVER_LIBRARIES,
    Wheels,
    build_wheels,
    fresh_venv,
    missing_assets,
    requirement_name,
    web_assets,
    wheel_requirements,
)
from aviary_devkit.processes import ROOT, ServiceSet, isolated_settings, running, settings_env
from tests.support import jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

HERE = Path(__file__).parent
SERVICES = ("ingest", "dispatch", "review", "export", "assist")
VERSION = version("aviary-server")
# Every page and shared asset the services serve, as the checkout has them (web/<folder>/).
PAGES = {
    service: sorted(p.name for p in web_assets() if p.parent.name == folder)
    for service, folder in (("dispatch", "label"), ("review", "review"), ("export", "dashboard"))
}
COMMON = sorted(p.name for p in web_assets() if p.parent.name == "common")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    return build_wheels(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def server_python(tmp_path_factory: pytest.TempPathFactory, wheels: Wheels) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("server-venv"), wheels.server, wheels.client)


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory, wheels: Wheels) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("client-venv"), wheels.client)


@pytest.fixture(scope="module")
def installed(
    stack: None, server_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceSet]:
    """The four services, run by the installed package from a folder outside the checkout."""
    outside = tmp_path_factory.mktemp("installed-run")
    with running(
        isolated_settings(), outside / "logs", port_offset=18_000, python=server_python, cwd=outside
    ) as services:
        yield services


def python_prints(python: Path, cwd: Path, code: str) -> str:
    """What `code` prints when run by `python` (an installed package) from `cwd`."""
    return subprocess.run(
        [str(python), "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


def test_the_client_wheel_requires_no_server_library(wheels: Wheels) -> None:
    names = {requirement_name(r) for r in wheel_requirements(wheels.client)}
    # pyyaml: ontology and project files for `aviary project create`; sniffio: what httpx's
    # async transport imports on every request (a failed import each time without it).
    assert names == {"pydantic", "httpx", "sniffio", "typer", "rich", "pyyaml"}
    assert not names & SERVER_LIBRARIES


def test_the_server_wheel_pins_the_client_of_its_own_version_and_carries_its_pages(
    wheels: Wheels,
) -> None:
    assert f"aviary-client=={VERSION}" in wheel_requirements(wheels.server)
    assert missing_assets(wheels.server) == []


def test_installed_services_are_ready_report_their_version_and_serve_every_page(
    installed: ServiceSet, server_python: Path
) -> None:
    # The processes run the installed package, not the checkout.
    where = python_prints(server_python, installed.cwd, "import services; print(services.__file__)")
    assert "site-packages" in where and str(ROOT) not in where
    for service in SERVICES:
        status, _, body = get(f"{installed.url(service)}/readyz")
        ready = json.loads(body)
        assert (status, ready["status"], ready["version"]) == (200, "ready", VERSION)
    for service, pages in PAGES.items():
        base = installed.url(service)
        for page in pages:
            status, kind, body = get(f"{base}/ui/{page}")
            assert status == 200 and body, (service, page)
            assert kind.split(";")[0] in {"text/html", "text/javascript", "application/javascript"}
        for asset in COMMON:
            status, _, body = get(f"{base}/ui/common/{asset}")
            assert status == 200 and body, (service, asset)
        status, _, body = get(f"{base}/ui/config.json")
        assert set(json.loads(body)["services"]) == set(SERVICES)


def test_the_installed_command_lines_report_the_version(
    server_python: Path, client_python: Path
) -> None:
    client_cli = client_python.parent / "aviary"
    ops_cli = server_python.parent / "aviary-ops"
    assert (
        subprocess.run(
            [str(client_cli), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        == f"aviary {VERSION}"
    )
    assert (
        subprocess.run(
            [str(ops_cli), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        == f"aviary-server {VERSION}"
    )


def test_the_client_wheel_alone_pushes_images_and_pulls_a_verified_delivery(
    installed: ServiceSet, client_python: Path, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        (images / f"street-{i}.jpg").write_bytes(jpeg(4000 + i))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AVIARY_OPERATOR_KEY": installed.settings.operator_key.get_secret_value(),
        **{f"AVIARY_{n.upper()}_URL": installed.url(n) for n in SERVICES},
    }
    script = tmp_path / "client_flow.py"  # outside the checkout: only the wheel is importable
    shutil.copy(HERE / "client_flow.py", script)
    run = subprocess.run(
        [str(client_python), str(script), str(images), str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["version"] == VERSION
    assert (seen["uploaded"], seen["labeled"], seen["delivered_images"]) == (3, 3, 3)
    assert seen["server_modules_importable"] == []
    assert Path(seen["package"]).is_file()


def start_refused(server_python: Path, cwd: Path, env: dict[str, str], service: str) -> str:
    run = subprocess.run(
        [str(server_python), "-m", f"services.{service}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 78, run.stderr[-2000:]
    return run.stderr


def test_production_refuses_built_in_and_short_secrets(
    installed: ServiceSet, server_python: Path
) -> None:
    env = {
        **settings_env(installed.settings),
        "AVIARY_ENV": "production",
        "AVIARY_PORT": "19999",
    }
    env.pop("AVIARY_AUTH_SECRET")  # the built-in default
    env["AVIARY_OPERATOR_KEY"] = "sixteen-chars-ok"
    refused = start_refused(server_python, installed.cwd, env, "ingest")
    assert "AVIARY_AUTH_SECRET is a built-in or example value" in refused
    assert "AVIARY_OPERATOR_KEY is shorter than 32 characters" in refused
    assert "Traceback" not in refused


def test_a_server_missing_its_pages_says_so_at_start(
    installed: ServiceSet, server_python: Path
) -> None:
    code = "import aviary_web; print(aviary_web.__file__.rsplit('/', 1)[0])"
    web = python_prints(server_python, installed.cwd, code)
    assert "site-packages" in web and str(ROOT) not in web
    common = Path(web) / "common"
    common.rename(common.with_name("common-hidden"))
    try:
        env = {**settings_env(installed.settings), "AVIARY_PORT": "19998"}
        refused = start_refused(server_python, installed.cwd, env, "dispatch")
    finally:
        common.with_name("common-hidden").rename(common)
    assert "web assets missing" in refused and "aviary_web/common" in refused
    assert "Traceback" not in refused
