"""The running server's version, as installed (also in `/readyz` and `aviary-ops --version`)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=1)
def server_version() -> str:
    try:
        return version("aviary-server")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
