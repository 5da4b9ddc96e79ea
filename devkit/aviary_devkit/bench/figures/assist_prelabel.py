"""`assist` (pre-labels): how many ingested items one assist process pre-labels a second.

An operator installs a small detector (`aviary_devkit.tiny_onnx.detector`, 320x320 input: the
figure is about assist's own work around a model, reading, decoding, letterboxing, proposals,
the transaction that publishes `item.prelabeled`, not about a network's arithmetic), a client's
project names it as its pre-labeler, and `ITEMS` street scenes at 1280x720 are pushed while
assist is stopped, so they wait in its queue. Then assist starts (one process, or two) and the
figure is the pace of `item.prelabeled` events for those items, from the first to the last (the
processes' start-up left out), as a listener bound to the exchange counts them.

`assist_prelabel_items_per_s`: with one process; `assist_prelabel_items_per_s_2p`: with two.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.listening import listening
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from aviary_devkit.sim.scenes import generate_scene
from aviary_devkit.tiny_onnx import detector
from shared.messaging import Broker
from shared.settings import Settings

ITEMS = 300
WIDTH, HEIGHT = 1280, 720
MODEL_SIDE = 320
UPLOADERS = 8
TIMEOUT_S = 300


def bench_assist_prelabel(runs: int) -> Figures:
    settings = isolated_settings()
    pictures = [generate_scene(5000 + n, WIDTH, HEIGHT).jpeg_bytes(90) for n in range(ITEMS)]
    with tempfile.TemporaryDirectory(prefix="aviary-prelabel-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=21_000)
        try:
            for name in ("ingest", "assist"):
                services.start(name)
            for name in ("ingest", "assist"):
                services.wait_ready(name)
            desk = asyncio.run(_install(services, settings))
            services.kill("assist", signal.SIGTERM)
            paces: dict[int, list[float]] = {1: [], 2: []}
            for run in range(runs):
                for processes in (1, 2):
                    pace = asyncio.run(_pace(services, settings, desk, pictures, processes))
                    print(f"  run {run}, {processes} process(es): {pace:.1f} items/s", flush=True)
                    paces[processes].append(pace)
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))
    return {
        "assist_prelabel_items_per_s": round(statistics.median(paces[1]), 1),
        "assist_prelabel_items_per_s_2p": round(statistics.median(paces[2]), 1),
    }


async def _ok(http: httpx.AsyncClient, method: str, url: str, token: str, **kwargs: Any) -> Any:
    headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
    answer = await http.request(method, url, headers=headers, **kwargs)
    if answer.status_code >= 400:
        raise RuntimeError(f"{method} {url} -> {answer.status_code}: {answer.text}")
    return answer.json() if answer.content else None


async def _install(services: ServiceSet, settings: Settings) -> dict[str, str]:
    """The detector installed, a client and a vendor: what every run's project needs."""
    ing, op = services.url("ingest"), settings.operator_key.get_secret_value()
    manifest = {
        "name": "bench-detector",
        "task": "detect",
        "input_size": [MODEL_SIDE, MODEL_SIDE],
        "licence": "MIT",
        "labels": ["thing", "corner"],
        "class_map": {"thing": "car", "corner": "sign"},
        "score_threshold": 0.3,
    }
    model = detector(MODEL_SIDE, MODEL_SIDE)
    async with httpx.AsyncClient(timeout=60) as http:
        await _ok(
            http,
            "POST",
            f"{services.url('assist')}/v1/models",
            op,
            data={"manifest": json.dumps(manifest)},
            files={"model": ("det.onnx", model, "application/octet-stream")},
        )
        client = await _ok(http, "POST", f"{ing}/v1/orgs", op, json={"name": "c", "kind": "client"})
        vendor = await _ok(http, "POST", f"{ing}/v1/orgs", op, json={"name": "v", "kind": "vendor"})
        body = {"org_id": client["id"], "role": "client", "subject": "bench"}
        token = await _ok(http, "POST", f"{ing}/v1/tokens", op, json=body)
    return {"client": str(token["token"]), "vendor": str(vendor["id"])}


async def _push(services: ServiceSet, desk: dict[str, str], pictures: list[bytes]) -> str:
    """A new project (so the same pictures are new items) and its batch, every picture pushed."""
    ing, token = services.url("ingest"), desk["client"]
    async with httpx.AsyncClient(timeout=60) as http:
        project = await _ok(
            http,
            "POST",
            f"{ing}/v1/projects",
            token,
            json={
                "name": "pre-labeled",
                "ontology": {"classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "sign"}]},
                "vendors": [{"vendor_id": desk["vendor"], "share": 1.0}],
                "assist": {"prelabel_model": "bench-detector"},
            },
        )
        batch = await _ok(
            http, "POST", f"{ing}/v1/projects/{project['id']}/batches", token, json={}
        )
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        for n, jpeg in enumerate(pictures):
            queue.put_nowait((n, jpeg))

        async def uploader() -> None:
            while not queue.empty():
                n, jpeg = queue.get_nowait()
                await _ok(
                    http,
                    "POST",
                    f"{ing}/v1/batches/{batch['id']}/items",
                    token,
                    content=jpeg,
                    params={"file_name": f"scene_{n}.jpg"},
                    headers={"content-type": "image/jpeg"},
                )

        await asyncio.gather(*(uploader() for _ in range(UPLOADERS)))
    return str(batch["id"])


async def _pace(
    services: ServiceSet,
    settings: Settings,
    desk: dict[str, str],
    pictures: list[bytes],
    processes: int,
) -> float:
    """Items pre-labeled a second by `processes` assist processes, from a full queue."""
    broker = Broker(settings)
    await broker.connect()
    try:
        async with listening(broker, "item.prelabeled", timeout_s=TIMEOUT_S) as heard:
            batch = await _push(services, desk, pictures)
            keys = ["assist", *(f"assist-{n}" for n in range(1, processes))]
            services.start("assist")
            for n in range(1, processes):
                services.start_replica("assist", n)
            seen: dict[str, float] = {}
            while len(seen) < len(pictures):
                for event in await heard(1):
                    if event.data["batch_id"] == batch:
                        seen.setdefault(event.data["item_id"], time.monotonic())
            for key in keys:
                services.kill(key, signal.SIGTERM)
        times = sorted(seen.values())
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)
    finally:
        await broker.close()
