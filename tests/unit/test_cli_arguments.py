"""The CLI's own argument handling: `--json` anywhere, and vendor shares for a new project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from aviary.cli import json_first
from aviary.cli.projects import vendor_shares


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        (["status", "--json"], ["--json", "status"]),
        (["--json", "status"], ["--json", "status"]),
        (["project", "show", "p1", "--json"], ["--json", "project", "show", "p1"]),
        (["push", "dir", "--", "--json"], ["push", "dir", "--", "--json"]),
        (["status"], ["status"]),
    ],
)
def test_json_goes_before_the_command(given: list[str], parsed: list[str]) -> None:
    assert json_first(given) == parsed


def test_vendors_without_a_share_split_what_is_left() -> None:
    assert vendor_shares(["a", "b:0.5", "c"]) == [
        {"vendor_id": "a", "share": 0.25},
        {"vendor_id": "b", "share": 0.5},
        {"vendor_id": "c", "share": 0.25},
    ]
    assert vendor_shares(["a"]) == [{"vendor_id": "a", "share": 1.0}]


@pytest.mark.parametrize("specs", [["a", "a"], ["a:x"], [":0.5"]])
def test_a_vendor_named_twice_or_a_share_not_a_number_is_a_usage_error(specs: list[str]) -> None:
    with pytest.raises(typer.BadParameter):
        vendor_shares(specs)


def test_a_project_edit_sends_back_every_setting_a_version_is_made_of() -> None:
    """A setting left out of `aviary project edit` (or the dashboard's Edit, the same list)
    would be reset to its default by every edit."""
    from aviary.cli.projects import SETTINGS
    from aviary.contracts.ingest import ProjectUpdate

    page = (Path(__file__).parents[2] / "web" / "dashboard" / "projects.js").read_text()
    listed = re.search(r"const SETTINGS = \[(.*?)\];", page, re.S)
    assert listed is not None
    in_page = set(re.findall(r'"(\w+)"', listed.group(1)))
    assert set(SETTINGS) == in_page == set(ProjectUpdate.model_fields) - {"webhook_secret"}
