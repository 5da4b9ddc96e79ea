"""The dispatch benchmark: simulated annotators leasing and submitting as fast as they can.

    seed(settings, tasks)            fill dispatch's database through its own event handler
    saturate(urls, settings, ...)    N annotators in a closed loop: tasks/s
    paced(urls, settings, ...)       a fixed offered load: `next` latency percentiles

Annotators spread over the dispatch processes given (annotator i uses process i mod N), as a
load balancer would spread them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

from aviary_devkit.sim.loadclient import Connection
from services.dispatch.deps import DispatchParts
from shared.events import (
    ImageRef,
    ItemIngested,
    Ontology,
    OntologyClass,
    ProjectUpserted,
    ReviewPolicy,
    VendorShare,
)
from shared.runtime import Runtime
from shared.security.auth import Role, issue_token
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession

PROJECT = "prj_dispatch_bench"
ORG = "org_bench"
VENDOR = "ven_bench"
BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}
SEED_CHUNK = 500


def project() -> ProjectUpserted:
    return ProjectUpserted(
        project_id=PROJECT,
        org_id=ORG,
        version=1,
        name="dispatch bench",
        ontology=Ontology(classes=(OntologyClass(id=1, name="car"),)),
        overlap=1,
        vendors=(VendorShare(vendor_id=VENDOR, share=1.0),),
        review=ReviewPolicy(),
        reject_reasons=("x",),
        piece_rate=0.05,
    )


def ingested(i: int) -> ItemIngested:
    return ItemIngested(
        item_id=f"itm_{i:08d}",
        project_id=PROJECT,
        batch_id="bat_bench",
        org_id=ORG,
        image=ImageRef(
            bucket="images",
            object_key=f"bench/{i}",
            width=640,
            height=480,
            format="jpeg",
            sha256=f"{i:064x}",
            file_name=f"{i}.jpg",
        ),
    )


async def seed(settings: Settings, tasks: int) -> None:
    """Create `tasks` pending tasks with dispatch's own handler code, in big transactions."""
    runtime = Runtime("dispatch", settings, "api")
    store = DispatchParts.build(runtime).tasks
    await store.ensure_indexes()

    async def save(session: AsyncClientSession) -> None:
        await store.save_project(session, project())

    await runtime.db.transaction(save)
    for start in range(0, tasks, SEED_CHUNK):

        async def create(session: AsyncClientSession, start: int = start) -> None:
            events = [ingested(i) for i in range(start, min(tasks, start + SEED_CHUNK))]
            await store.create_tasks_many(session, events)

        await runtime.db.transaction(create)
    await runtime.mongo_client.close()


@dataclass
class Load:
    done: int = 0
    conflicts: int = 0
    empty: int = 0
    next_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def next_p(self, q: int) -> float:
        if len(self.next_ms) < 2:
            return 0.0
        return statistics.quantiles(self.next_ms, n=100)[q - 1]


async def _one_task(conn: Connection, load: Load) -> bool:
    started = time.perf_counter()
    response = await conn.post("/v1/tasks/next")
    load.next_ms.append((time.perf_counter() - started) * 1000)
    if response.status == 204:
        load.empty += 1
        return False
    if response.status != 200:
        raise RuntimeError(f"next answered {response.status}: {response.body[:200]!r}")
    task = response.json()
    body = {"lease_id": task["lease_id"], "annotation": {"shapes": [BOX]}}
    submitted = await conn.post(f"/v1/tasks/{task['id']}/submit", body)
    if submitted.status == 409:
        load.conflicts += 1
    elif submitted.status != 200:
        raise RuntimeError(f"submit answered {submitted.status}: {submitted.body[:200]!r}")
    else:
        load.done += 1
    return True


def _connections(urls: list[str], settings: Settings, annotators: int) -> list[Connection]:
    """One connection per annotator; annotator i talks to process i mod N."""
    return [
        Connection(
            urls[i % len(urls)],
            issue_token(settings, sub=f"ann-{i}", org=VENDOR, role=Role.ANNOTATOR),
        )
        for i in range(annotators)
    ]


async def saturate(urls: list[str], settings: Settings, annotators: int, duration_s: float) -> Load:
    """Closed loop: each annotator leases and submits again as soon as the last one is in."""
    load = Load()
    stop_at = time.monotonic() + duration_s
    connections = _connections(urls, settings, annotators)

    async def annotator(conn: Connection) -> None:
        while time.monotonic() < stop_at:
            if not await _one_task(conn, load):
                await asyncio.sleep(0.05)

    started = time.monotonic()
    try:
        await asyncio.gather(*(annotator(c) for c in connections))
    finally:
        for conn in connections:
            await conn.close()
    load.seconds = time.monotonic() - started
    return load


async def paced(
    urls: list[str], settings: Settings, annotators: int, per_s: float, duration_s: float
) -> Load:
    """Open loop: a task starts every 1/per_s seconds, each on the next idle annotator."""
    load = Load()
    connections = _connections(urls, settings, annotators)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in connections:
        idle.put_nowait(conn)

    async def run(conn: Connection) -> None:
        try:
            await _one_task(conn, load)
        finally:
            idle.put_nowait(conn)

    running: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    n = 0
    try:
        while (now := time.monotonic()) - started < duration_s:
            due = started + n / per_s
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(run(await idle.get()))
            running.add(task)
            task.add_done_callback(running.discard)
            n += 1
        await asyncio.gather(*running)
    finally:
        for conn in connections:
            await conn.close()
    load.seconds = time.monotonic() - started
    return load
