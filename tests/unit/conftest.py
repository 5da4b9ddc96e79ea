"""Fixtures the unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from aviary_devkit.interop import tool_python


@pytest.fixture(scope="session")
def datumaro() -> Path:
    """Datumaro's interpreter (its own virtualenv), for reading our packages back. Failing to
    install it fails the tests that need it: the package index is part of what `make test`
    needs, and a skip would hide an unchecked format."""
    python, why = tool_python("datumaro")
    if python is None:
        pytest.fail(why)
    return python
