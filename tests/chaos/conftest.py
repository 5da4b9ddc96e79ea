"""Print the chaos report at the end of the run, whatever pytest captured."""

from __future__ import annotations

import json

import pytest

from tests.chaos.test_faults import REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT.exists():
        return
    report = json.loads(REPORT.read_text())
    terminalreporter.section(f"chaos report ({report['images_per_test']} images per test)")
    for row in report["tests"]:
        terminalreporter.line("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
