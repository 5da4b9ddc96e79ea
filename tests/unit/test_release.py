"""One release: the three distributions share a version, pin each other, and say what changed."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def project(folder: str) -> dict[str, object]:
    table = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    assert isinstance(table, dict)
    return table


SERVER, CLIENT, DEVKIT = project("."), project("client"), project("devkit")
VERSION = str(SERVER["version"])


def test_the_three_distributions_carry_one_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert [SERVER["name"], CLIENT["name"], DEVKIT["name"]] == [
        "aviary-server",
        "aviary-client",
        "aviary-devkit",
    ]
    assert CLIENT["version"] == DEVKIT["version"] == VERSION


def test_each_pins_the_others_exactly() -> None:
    # A server of one release speaks the contracts of that release only.
    assert f"aviary-client=={VERSION}" in SERVER["dependencies"]  # type: ignore[operator]
    assert f"aviary-server=={VERSION}" in DEVKIT["dependencies"]  # type: ignore[operator]
    assert f"aviary-client=={VERSION}" in DEVKIT["dependencies"]  # type: ignore[operator]


def test_the_installed_metadata_is_this_checkout() -> None:
    # `make install` is editable: a stale install would report another version in /readyz.
    for name in ("aviary-server", "aviary-client", "aviary-devkit"):
        assert version(name) == VERSION, name


def test_the_changelog_opens_with_this_release() -> None:
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings and headings[0] == VERSION
    assert len(headings) == len(set(headings))


def test_production_deploys_the_image_of_this_release() -> None:
    overlay = yaml.safe_load(
        (ROOT / "deploy/k8s/overlays/production/kustomization.yaml").read_text()
    )
    (image,) = overlay["images"]
    assert image["newTag"] == VERSION


def test_the_dockerfile_labels_images_with_this_release() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.findall(r"^ARG VERSION=(\S+)$", dockerfile, re.MULTILINE) == [VERSION]
