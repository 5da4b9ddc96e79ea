"""`interop`: another tool's annotations read and mapped onto a project, through the API.

A COCO instances file of 10,000 images (1280x720) and 50,000 boxes of four categories, as a
client would export it from another tool, sent to one ingest process's mapping step
(`POST /v1/projects/{id}/imports/check`): read (the client package's reader, in a worker
thread), mapped onto the project's ontology, every shape checked, the report answered.

`import_coco_50k_boxes_s`: that request's time as the client sees it (goal 10 s);
`import_coco_50k_boxes_peak_rss_mb`: the ingest process's peak resident memory after it, the
service's own footprint included (goal 300 MB).
The export side (`export_all_formats_10k_s`) is in the `export` benchmark.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings

IMAGES = 10_000
BOXES = 50_000
CLASSES = ("car", "pedestrian", "traffic_light", "truck")


def coco_file() -> bytes:
    rng = random.Random(11)
    images = [
        {"id": n + 1, "file_name": f"street_{n:05d}.jpg", "width": 1280, "height": 720}
        for n in range(IMAGES)
    ]
    annotations = []
    for n in range(BOXES):
        w, h = rng.uniform(8, 200), rng.uniform(8, 150)
        x, y = rng.uniform(0, 1280 - w), rng.uniform(0, 720 - h)
        annotations.append(
            {
                "id": n + 1,
                "image_id": n % IMAGES + 1,
                "category_id": rng.randint(1, len(CLASSES)),
                "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                "area": round(w * h, 2),
                "iscrowd": 0,
                "segmentation": [],
            }
        )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]
    document = {"images": images, "annotations": annotations, "categories": categories}
    return json.dumps(document).encode()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def bench_interop(runs: int) -> Figures:
    settings = isolated_settings()
    data = coco_file()
    with tempfile.TemporaryDirectory(prefix="aviary-interop-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=22_000)
        try:
            services.start("ingest")
            services.wait_ready("ingest")
            return _measure(services, data, runs)
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


def _measure(services: ServiceSet, data: bytes, runs: int) -> Figures:
    ingest = services.url("ingest")
    operator = {"Authorization": f"Bearer {services.settings.operator_key.get_secret_value()}"}
    with httpx.Client(base_url=ingest, timeout=300) as http:

        def ok(method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
            answer = http.request(method, path, headers=headers, **kw)
            answer.raise_for_status()
            return answer.json()

        org = ok("POST", "/v1/orgs", operator, json={"name": "c", "kind": "client"})
        vendor = ok("POST", "/v1/orgs", operator, json={"name": "v", "kind": "vendor"})
        body = {"org_id": org["id"], "role": "client", "subject": "bench"}
        token = ok("POST", "/v1/tokens", operator, json=body)["token"]
        client = {"Authorization": f"Bearer {token}"}
        project = ok(
            "POST",
            "/v1/projects",
            client,
            json={
                "name": "imported",
                "ontology": {"classes": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]},
                "vendors": [{"vendor_id": vendor["id"], "share": 1.0}],
            },
        )
        before = peak_rss_mb(services.procs["ingest"].pid)
        print(f"  ingest's peak RSS before: {before:.0f} MB", flush=True)
        seconds = []
        for run in range(runs):
            started = time.perf_counter()
            report = ok(
                "POST",
                f"/v1/projects/{project['id']}/imports/check",
                client,
                params={"format": "coco"},
                content=data,
            )
            seconds.append(time.perf_counter() - started)
            if not report["ok"] or report["shapes"] != BOXES:
                raise RuntimeError(f"the import was not whole: {report}")
            print(f"  run {run}: {seconds[-1]:.2f} s ({len(data) / 1e6:.1f} MB file)", flush=True)
        rss = peak_rss_mb(services.procs["ingest"].pid)
    return {
        "import_coco_50k_boxes_s": round(statistics.median(seconds), 2),
        "import_coco_50k_boxes_peak_rss_mb": round(rss),
    }
