"""Building what users install: the two wheels, and fresh virtualenvs to try them in.

`make dist` and the tests of the installed artifacts (tests/package) both build through here,
so what the tests start is what `make dist` ships.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aviary_devkit.processes import ROOT

# Where each distribution's project lives in the checkout.
PROJECTS = {"aviary-client": ROOT / "client", "aviary-server": ROOT}
# Libraries a client wheel must never require: they are the server's.
SERVER_LIBRARIES = frozenset(
    {"fastapi", "starlette", "uvicorn", "pymongo", "motor", "aio-pika", "aiormq", "minio"}
)
# What a page is made of (web/'s type checking files are not shipped).
WEB_SUFFIXES = frozenset({".html", ".js", ".css"})


@dataclass(frozen=True)
class Wheels:
    client: Path
    server: Path


def build_wheels(out: Path) -> Wheels:
    """Build both wheels into `out` (no dependencies: those come from the index at install)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("aviary_*.whl"):
        old.unlink()
    subprocess.run(  # noqa: S603 - pip of this or a fresh venv, with our own paths
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out)]
        + [str(path) for path in PROJECTS.values()],
        check=True,
        cwd=out,
    )
    return Wheels(client=_one(out, "aviary_client"), server=_one(out, "aviary_server"))


def _one(out: Path, prefix: str) -> Path:
    found = sorted(out.glob(f"{prefix}-*.whl"))
    if len(found) != 1:
        raise RuntimeError(f"expected one {prefix} wheel in {out}, found {found}")
    return found[0]


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def wheel_requirements(wheel: Path) -> list[str]:
    """The `Requires-Dist` lines of a wheel's metadata."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(name).decode()
    return [
        line.removeprefix("Requires-Dist:").strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def requirement_name(requirement: str) -> str:
    """`fastapi>=0.115,<1` -> `fastapi` (normalised as the index does)."""
    name = requirement
    for stop in "<>=!~ ;[(":
        name = name.split(stop, 1)[0]
    return name.strip().lower().replace("_", "-")


def web_assets() -> list[Path]:
    """The checkout's web pages and their assets: web/<folder>/*.{html,js,css}."""
    return [
        path
        for path in sorted((ROOT / "web").glob("*/*"))
        if path.suffix in WEB_SUFFIXES and path.parent.name != "node_modules" and path.is_file()
    ]


def missing_assets(wheel: Path) -> list[str]:
    """The checkout's web pages and assets, and the speech detector's model, that the server
    wheel does not carry (web/ is the package `aviary_web` there)."""
    files = wheel_files(wheel)
    wanted = [f"aviary_web/{path.relative_to(ROOT / 'web').as_posix()}" for path in web_assets()]
    models = [
        p.relative_to(ROOT).as_posix() for p in (ROOT / "services/ingest/models").glob("*.onnx")
    ]
    if not models:
        return ["services/ingest/models/*.onnx (run make install)"]
    return [path for path in ["aviary_web/__init__.py", *wanted, *models] if path not in files]


def fresh_venv(where: Path, *wheels: Path) -> Path:
    """A new virtualenv at `where` (outside the checkout) with `wheels` and their dependencies
    installed from the index; returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    subprocess.run(  # noqa: S603 - pip of this or a fresh venv, with our own paths
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        + [str(wheel) for wheel in wheels],
        check=True,
        cwd=where,
    )
    return python
