"""The accept pipeline, driven as a client and annotators drive it: plain HTTP, real services.

A client pushes images and seals the batch; 8 annotators lease and submit as fast as they can
(review mode `auto`); the figure counts until the client's own view of the batch (ingest's
progress) says every item is accepted. What dispatch takes in at the submit is only half of
it: the events behind it (review records and accepts, ingest counts, export reads in) must
keep pace, or the work piles up in queues while the submit looks fast.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from aviary_devkit.bench import ingest_bench
from aviary_devkit.sim.loadclient import Connection

ANNOTATORS = 8
BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}
POLL_S = 0.2  # how often the client reads the batch's progress


@dataclass
class Tenant:
    client_token: str
    project_id: str
    annotator_tokens: list[str] = field(default_factory=list)


async def onboard(ingest_url: str, operator_key: str, annotators: int = ANNOTATORS) -> Tenant:
    """A client with an auto-review project and one vendor with `annotators` people."""
    op = {"Authorization": f"Bearer {operator_key}"}
    async with httpx.AsyncClient(base_url=ingest_url, timeout=30) as http:

        async def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
            response = await http.post(path, json=body, headers=headers)
            if response.status_code >= 300:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")
            return response.json()

        client = await post("/v1/orgs", {"name": "pipeline client", "kind": "client"}, op)
        vendor = await post("/v1/orgs", {"name": "pipeline vendor", "kind": "vendor"}, op)
        token = (
            await post(
                "/v1/tokens",
                {"org_id": client["id"], "role": "client", "subject": "integration"},
                op,
            )
        )["token"]
        project = await post(
            "/v1/projects",
            {
                "name": "pipeline",
                "ontology": {"classes": [{"id": 1, "name": "car"}]},
                "vendors": [{"vendor_id": vendor["id"], "share": 1.0}],
                "review": {"mode": "auto"},
            },
            {"Authorization": f"Bearer {token}"},
        )
        tenant = Tenant(token, project["id"])
        for i in range(annotators):
            issued = await post(
                "/v1/tokens",
                {"org_id": vendor["id"], "role": "annotator", "subject": f"annotator-{i}"},
                op,
            )
            tenant.annotator_tokens.append(issued["token"])
    return tenant


async def push_batch(ingest_url: str, tenant: Tenant, images: int, seed: int) -> str:
    """A sealed batch of `images` distinct JPEGs; returns its id."""
    headers = {"Authorization": f"Bearer {tenant.client_token}"}
    async with httpx.AsyncClient(base_url=ingest_url, timeout=60, headers=headers) as http:
        batch = (await http.post(f"/v1/projects/{tenant.project_id}/batches", json={})).json()
        await ingest_bench.push(
            ingest_url, tenant.client_token, batch["id"], ingest_bench.variants(images, seed), 20
        )
        sealed = await http.post(f"/v1/batches/{batch['id']}/seal")
        if sealed.status_code != 200:
            raise RuntimeError(f"seal: {sealed.status_code} {sealed.text}")
    return str(batch["id"])


@dataclass
class PipelineRun:
    tasks: int
    submit_seconds: float  # first submit to the last one answered
    accept_seconds: float  # first submit until the client sees every item accepted

    @property
    def submit_per_s(self) -> float:
        return self.tasks / self.submit_seconds

    @property
    def accepted_per_s(self) -> float:
        return self.tasks / self.accept_seconds


async def accepted(http: httpx.AsyncClient, batch_id: str) -> int:
    response = await http.get(f"/v1/batches/{batch_id}")
    response.raise_for_status()
    return int(response.json()["progress"]["accepted"])


async def label_until_accepted(
    ingest_url: str, dispatch_url: str, tenant: Tenant, batch_id: str, tasks: int
) -> PipelineRun:
    """Annotators label `tasks` tasks as fast as they can; timed until all are accepted."""
    remaining = tasks
    connections = [Connection(dispatch_url, t) for t in tenant.annotator_tokens]
    first_submit: float | None = None

    async def annotator(conn: Connection) -> None:
        nonlocal remaining, first_submit
        while remaining > 0:
            reply = await conn.post("/v1/tasks/next?wait_s=1")
            if reply.status == 204:
                continue
            if reply.status != 200:
                raise RuntimeError(f"next: {reply.status} {reply.body[:200]!r}")
            task = reply.json()
            if first_submit is None:
                first_submit = time.monotonic()
            body = {"lease_id": task["lease_id"], "annotation": {"shapes": [BOX]}}
            done = await conn.post(f"/v1/tasks/{task['id']}/submit", body)
            if done.status != 200:
                raise RuntimeError(f"submit: {done.status} {done.body[:200]!r}")
            remaining -= 1

    try:
        await asyncio.gather(*(annotator(c) for c in connections))
    finally:
        for conn in connections:
            await conn.close()
    submitted_at = time.monotonic()
    assert first_submit is not None
    headers = {"Authorization": f"Bearer {tenant.client_token}"}
    async with httpx.AsyncClient(base_url=ingest_url, timeout=30, headers=headers) as http:
        deadline = submitted_at + 900
        while await accepted(http, batch_id) < tasks:
            if time.monotonic() > deadline:
                raise TimeoutError("the batch was not accepted within 15 minutes")
            await asyncio.sleep(POLL_S)
    return PipelineRun(tasks, submitted_at - first_submit, time.monotonic() - first_submit)
