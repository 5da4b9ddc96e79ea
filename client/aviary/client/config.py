"""Where the services are: one base URL per service, from arguments or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoints:
    ingest: str = "http://127.0.0.1:8001"
    dispatch: str = "http://127.0.0.1:8002"
    review: str = "http://127.0.0.1:8003"
    export: str = "http://127.0.0.1:8004"
    assist: str = "http://127.0.0.1:8005"

    @classmethod
    def from_env(cls) -> Endpoints:
        """`AVIARY_INGEST_URL`, `AVIARY_DISPATCH_URL`, ... or the local defaults."""
        defaults = cls()
        return cls(
            **{
                name: os.environ.get(f"AVIARY_{name.upper()}_URL", getattr(defaults, name))
                for name in ("ingest", "dispatch", "review", "export", "assist")
            }
        )
