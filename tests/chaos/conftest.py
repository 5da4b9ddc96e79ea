"""The chaos report: rows of every chaos module (test_faults.py on the single-node stack,
test_cluster.py on the clustered one) go to var/chaos/report.json at the end of the session,
and are printed at the end of the run, whatever pytest captured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from aviary_devkit.processes import ROOT

REPORT = ROOT / "var" / "chaos" / "report.json"
_WRITTEN: list[bool] = []  # the report was written by this session (not left by an older one)


@pytest.fixture(scope="session")
def report() -> Iterator[list[dict[str, Any]]]:
    """Rows of the report; each test appends one (see test_faults.tally)."""
    rows: list[dict[str, Any]] = []
    yield rows
    # One number when every test ran the same flow size (as before); else each size seen.
    sizes = sorted({row["images_in"] for row in rows})
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {"images_per_test": sizes[0] if len(sizes) == 1 else sizes, "tests": rows}, indent=2
        )
    )
    _WRITTEN.append(True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _WRITTEN:
        return
    report = json.loads(REPORT.read_text())
    sizes = report["images_per_test"]
    shown = sizes if isinstance(sizes, int) else " or ".join(str(s) for s in sizes) or "no"
    terminalreporter.section(f"chaos report ({shown} images per test)")
    for row in report["tests"]:
        terminalreporter.line("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
