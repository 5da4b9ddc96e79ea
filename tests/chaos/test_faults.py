"""Faults in the middle of a real flow (`make chaos`): services killed, the broker, the
database and object storage restarted or down. Each test ends with every image delivered
exactly once and no task stuck; the counts go to var/chaos/report.json.

The flow is the demo's: images pushed through ingest, annotated by simulated annotators of two
vendors, reviewed, delivered as COCO and checked against the scenes they were drawn from.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aviary_devkit.listening import listening
from aviary_devkit.privacy_scan import scan
from aviary_devkit.processes import ROOT, ServiceSet, isolated_settings, running
from aviary_devkit.sim.flow import Flow, FlowConfig, FlowResult, FlowStats
from aviary_devkit.tiny_onnx import detector, manifest
from shared.events import Envelope
from shared.messaging import Broker
from shared.settings import SERVICE_PORTS
from tests.e2e.test_slice import check_delivery, endpoints, flow
from tests.integration.test_deletion import derived_ids
from tests.support import jpeg

# Each scenario runs a whole flow with recoveries in it: minutes, not the suite's 300 s.
pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(1500)]

IMAGES = int(os.environ.get("AVIARY_CHAOS_IMAGES", "500"))
DELETION_SEED = 50_000
HOLD_AT = 0.8  # share of the images submitted after which the flow waits for the last fault
STUCK_STATES = ("pending", "leased")


def stack(command: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), command],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def chaos_services(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSet]:
    """The four services on ports of their own (31001..), a namespace of their own."""
    with running(
        isolated_settings(lease_ttl_s=20),
        tmp_path_factory.mktemp("chaos-logs"),
        port_offset=23_000,
    ) as services:
        yield services


@dataclass
class Fault:
    name: str
    due: Callable[[FlowStats], bool]
    inject: Callable[[ServiceSet, Flow], Awaitable[None]]


def sigkill(victim: str) -> Callable[[ServiceSet, Flow], Awaitable[None]]:
    async def inject(services: ServiceSet, _: Flow) -> None:
        services.kill(victim)
        await asyncio.sleep(0.5)
        services.start(victim)
        await asyncio.to_thread(services.wait_ready, victim, 120)

    return inject


async def restart_broker(services: ServiceSet, _: Flow) -> None:
    await asyncio.to_thread(stack, "restart-broker")


async def restart_database(services: ServiceSet, _: Flow) -> None:
    await asyncio.to_thread(stack, "stop-db")
    await asyncio.sleep(3)
    await asyncio.to_thread(stack, "infra")


async def storage_down_30s(services: ServiceSet, f: Flow) -> None:
    ingest = f"{services.url('ingest')}/v1"
    auth = {"Authorization": f"Bearer {f.client_token}"}
    async with httpx.AsyncClient(timeout=30, headers=auth) as http:
        # A batch of its own: the flow's may be sealed by now (its uploads are quick).
        opened = await http.post(f"{ingest}/projects/{f.project_id}/batches", json={})
        assert opened.status_code == 201, opened.text
        probe = opened.json()["id"]
        await asyncio.to_thread(stack, "stop-s3")
        try:
            await asyncio.sleep(2)
            # While it is down, an upload is refused with 503 and Retry-After, not half-stored.
            refused = await http.post(
                f"{ingest}/batches/{probe}/items",
                content=jpeg(999_999),
                headers={"content-type": "image/jpeg"},
            )
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["retry-after"]) > 0
            await asyncio.sleep(28)
        finally:
            await asyncio.to_thread(stack, "infra")
        batch = (await http.get(f"{ingest}/batches/{probe}")).json()
        assert batch["item_count"] == 0, batch


async def run_with_faults(
    services: ServiceSet,
    tmp_path: Path,
    faults: list[Fault],
    seed: int,
    images: int = IMAGES,
    f: Flow | None = None,
) -> tuple[FlowResult, int, float]:
    f = f or flow(services, tmp_path, images=images, error_rate=0.1, seed=seed)
    f.config.timeout_s = 900
    started = time.monotonic()
    run = asyncio.create_task(f.run())
    # A fault's injection can outlast the rest of a small flow (moving connections off a killed
    # node takes seconds): past HOLD_AT of the submissions, annotators wait for the last fault.
    hold = asyncio.create_task(hold_submissions(f, HOLD_AT * images))
    injected = 0
    try:
        for fault in faults:
            while not fault.due(f.stats) and not run.done():
                await asyncio.sleep(0.05)
            assert not run.done(), f"the flow ended before {fault.name} could be injected"
            await fault.inject(services, f)
            injected += 1
        hold.cancel()
        f.may_submit.set()
        result = await run
    finally:
        hold.cancel()
        if not run.done():
            run.cancel()
        await f.close()
    return result, injected, time.monotonic() - started


async def hold_submissions(f: Flow, at: float) -> None:
    while f.stats.submissions < at:
        await asyncio.sleep(0.02)
    f.may_submit.clear()


def tally(
    name: str, services: ServiceSet, result: FlowResult, injected: int, seconds: float
) -> dict[str, Any]:
    delivered = Counter(image["aviary_item_id"] for image in result.coco["images"])
    token = services.settings.operator_key.get_secret_value()
    stats = httpx.get(
        f"{services.url('dispatch')}/v1/projects/{result.project_id}/task-stats",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    stuck = sum(
        count
        for states in stats["by_vendor"].values()
        for state, count in states.items()
        if state in STUCK_STATES
    )
    return {
        "test": name,
        "faults_injected": injected,
        "images_in": len(result.truth),
        "images_delivered": len(delivered),
        "duplicates": sum(n - 1 for n in delivered.values()),
        "lost": len(set(result.truth) - set(delivered)),
        "tasks_stuck": stuck,
        "seconds": round(seconds, 1),
    }


def check(row: dict[str, Any], result: FlowResult, tmp_path: Path, images: int = IMAGES) -> None:
    assert row["duplicates"] == 0 and row["lost"] == 0, row
    assert row["images_delivered"] == row["images_in"] == images, row
    assert row["tasks_stuck"] == 0, row
    check_delivery(result, tmp_path)


N = IMAGES
SCENARIOS: dict[str, list[Fault]] = {
    "sigkill-each-service": [
        Fault("kill ingest", lambda s: s.uploaded >= 0.2 * N, sigkill("ingest")),
        Fault("kill dispatch", lambda s: s.submissions >= 0.1 * N, sigkill("dispatch")),
        Fault("kill review", lambda s: s.submissions >= 0.25 * N, sigkill("review")),
        Fault("kill export", lambda s: s.accepted >= 0.4 * N, sigkill("export")),
    ],
    "broker-restart": [
        Fault("restart rabbitmq", lambda s: s.submissions >= 0.2 * N, restart_broker),
    ],
    "storage-down-30s": [
        Fault("seaweedfs down 30 s", lambda s: s.uploaded >= 0.3 * N, storage_down_30s),
    ],
    # Last: the embedded database runs slower for a while after a restart.
    "database-restart": [
        Fault("restart secantusdb", lambda s: s.submissions >= 0.2 * N, restart_database),
    ],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_flow_survives_faults_with_every_image_delivered_once(
    chaos_services: ServiceSet,
    report: list[dict[str, Any]],
    tmp_path: Path,
    scenario: str,
) -> None:
    seed = 1000 + list(SCENARIOS).index(scenario)
    result, injected, seconds = await run_with_faults(
        chaos_services, tmp_path, SCENARIOS[scenario], seed
    )
    row = tally(scenario, chaos_services, result, injected, seconds)
    report.append(row)
    check(row, result, tmp_path)


class PrelabeledFlow(Flow):
    """The flow with a detector as the project's pre-labeler: tasks wait for assist."""

    def project_body(self) -> dict[str, Any]:
        return {**super().project_body(), "assist": {"prelabel_model": DETECTOR}}


DETECTOR = "chaos-detector"


async def test_every_item_is_prelabeled_once_while_assist_is_killed(
    chaos_services: ServiceSet, report: list[dict[str, Any]], tmp_path: Path
) -> None:
    """assist SIGKILLed twice while it pre-labels the pushed images: each item's pre-labels
    (from the model, none failed) are published, its task made once, the delivery complete."""
    services = chaos_services
    installed = httpx.post(
        f"{services.url('assist')}/v1/models",
        headers={"Authorization": f"Bearer {services.settings.operator_key.get_secret_value()}"},
        data={"manifest": json.dumps(manifest(DETECTOR, class_map={"thing": "car"}))},
        files={"model": ("det.onnx", detector(), "application/octet-stream")},
        timeout=60,
    )
    assert installed.status_code == 201, installed.text
    key = services.settings.operator_key.get_secret_value()
    config = FlowConfig(deliveries_dir=tmp_path, images=IMAGES, error_rate=0.1, seed=1100)
    f = PrelabeledFlow(endpoints(services), key, config, progress=lambda _: None)
    faults = [
        Fault("kill assist", lambda s: s.uploaded >= 0.2 * N, sigkill("assist")),
        Fault("kill assist again", lambda s: s.uploaded >= 0.6 * N, sigkill("assist")),
    ]
    broker = Broker(services.settings)
    await broker.connect()
    try:
        async with listening(broker, "item.prelabeled", timeout_s=120) as heard:
            result, injected, seconds = await run_with_faults(services, tmp_path, faults, 1100, f=f)
            prelabeled: dict[str, list[Envelope]] = {}
            while len(prelabeled) < len(result.truth):
                for event in await heard(1):
                    prelabeled.setdefault(event.data["item_id"], []).append(event)
    finally:
        await broker.close()
    row = tally("sigkill-assist-prelabeling", services, result, injected, seconds)
    report.append(row)
    check(row, result, tmp_path)
    assert set(prelabeled) == set(result.truth)
    # Redelivered after a kill, an item may be pre-labeled twice, never differently.
    for events in prelabeled.values():
        assert {e.data["model"] for e in events} == {f"{DETECTOR}@1"}
        assert all(e.data["error"] is None for e in events), events[0].data["error"]
        assert len({json.dumps(e.data["pre_annotation"]) for e in events}) == 1


async def test_a_project_deleted_while_services_are_killed_is_gone_everywhere(
    chaos_services: ServiceSet, report: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A delivered project deleted by its client while dispatch, review and ingest are
    SIGKILLed in the middle of removing their parts: once they are back, the certificate
    names every service, and a scan of every database and bucket finds nothing left."""
    services = chaos_services
    # Pictures no other test of the session pushes (their scenes are seeds 1000 on): the scan
    # looks for the deleted content everywhere, and another project's copy is not a leftover.
    f = flow(services, tmp_path, images=IMAGES, error_rate=0.1, seed=DELETION_SEED)
    result, _, _ = await run_with_faults(services, tmp_path, [], DELETION_SEED, f=f)
    auth = {"Authorization": f"Bearer {f.client_token}"}
    ingest = f"{services.url('ingest')}/v1"
    async with httpx.AsyncClient(timeout=60, headers=auth) as http:
        listed = await http.get(f"{ingest}/batches/{result.batch_id}/items", params={"limit": 1000})
        items = listed.json()["items"]
        ids = {result.project_id, result.batch_id, *(i["id"] for i in items)}
        ids |= await derived_ids(services.settings, ids)
        started = time.monotonic()
        asked = await http.delete(f"{ingest}/projects/{result.project_id}")
        assert asked.status_code == 202, asked.text
        injected = 0
        for victim in ("dispatch", "review", "ingest"):
            await sigkill(victim)(services, f)
            injected += 1
        path = f"{ingest}/deletions/{asked.json()['id']}"
        deadline = time.monotonic() + 300
        while (done := (await http.get(path)).json())["status"] != "complete":
            assert time.monotonic() < deadline, done
            await asyncio.sleep(0.5)
    cert = done["certificate"]
    assert sorted(cert["services"]) == sorted(SERVICE_PORTS)
    assert cert["services"]["ingest"]["records"]["items"] == len(items) == IMAGES
    findings = await scan(services.settings, ids, {i["sha256"] for i in items})
    assert findings == [], "\n".join(map(str, findings[:20]))
    report.append(
        {
            "test": "sigkill-during-project-deletion",
            "faults_injected": injected,
            "images_in": IMAGES,
            "records_removed": cert["records_removed"],
            "objects_removed": cert["objects_removed"],
            "left_after_scan": len(findings),
            "seconds": round(time.monotonic() - started, 1),
        }
    )
