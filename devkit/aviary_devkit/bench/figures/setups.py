"""What the figures run on: the production timings, the infrastructure's processes (whose CPU
counts too), and one ingest process with a client and a project."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from aviary_devkit.bench.cpu import listener_pids
from aviary_devkit.processes import ROOT, ServiceSet, cleanup_namespace, isolated_settings
from shared.settings import Settings

Figures = dict[str, float]


def infra_pids() -> dict[str, list[int]]:
    """The embedded stack's server processes (those listening where the settings point):
    what a service's work costs beyond itself."""
    settings = Settings()
    mongo = urlsplit(settings.mongo_url.split(",")[0]).port or 27017
    return {
        "database": listener_pids(mongo),
        "storage": [int((ROOT / "var" / "run" / "seaweedfs.pid").read_text().split()[0])],
        "broker": listener_pids(urlsplit(settings.amqp_url).port or 5672),
    }


def production_timings() -> Settings:
    """A fresh namespace with the production timings (lease sweeps, pool reads, outbox
    polls), not the tests' short ones: their background reads are part of the cost."""
    defaults = Settings()
    timings = (
        "lease_ttl_s",
        "lease_sweep_s",
        "pool_sync_s",
        "outbox_poll_s",
        "backlog_takeover_s",
        "rework_exclusive_s",
        "max_attempts",
        "retry_delays_ms",
    )
    return isolated_settings(**{name: getattr(defaults, name) for name in timings})


def ingest_tenant(base: str, operator: str) -> tuple[str, str]:
    """A client and a project on a running ingest; returns (client token, project id)."""
    op = {"Authorization": f"Bearer {operator}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        org = http.post("/v1/orgs", json={"name": "bench", "kind": "client"}, headers=op).json()
        vendor = http.post("/v1/orgs", json={"name": "v", "kind": "vendor"}, headers=op).json()
        token = http.post(
            "/v1/tokens",
            headers=op,
            json={"org_id": org["id"], "role": "client", "subject": "bench"},
        ).json()["token"]
        project = http.post(
            "/v1/projects",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "name": "bench",
                "ontology": {"classes": [{"id": 1, "name": "car"}]},
                "vendors": [{"vendor_id": vendor["id"], "share": 1.0}],
            },
        ).json()
    return token, project["id"]


def new_batch(base: str, token: str, project_id: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as http:
        return str(
            http.post(
                f"/v1/projects/{project_id}/batches",
                json={},
                headers={"Authorization": f"Bearer {token}"},
            ).json()["id"]
        )


@contextlib.contextmanager
def ingest_alone(settings: Settings) -> Iterator[tuple[ServiceSet, str, str, str]]:
    """One ingest process (the other services are not running) with a client and a project:
    (the processes, ingest's URL, the client's token, the project id)."""
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        try:
            services.start("ingest")
            services.wait_ready("ingest")
            base = services.url("ingest")
            token, project_id = ingest_tenant(base, settings.operator_key.get_secret_value())
            yield services, base, token, project_id
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))
