"""Aviary's client side: the API contracts, the SDK (`aviary.client`) and the `aviary` CLI."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aviary-client")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
