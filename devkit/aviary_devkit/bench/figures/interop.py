"""`interop`: another tool's annotations read, mapped onto a project and matched to its items,
through the API.

A COCO instances file of 10,000 images (1280x720) and 50,000 boxes of four categories, as a
client would export it from another tool, for a batch whose 10,000 images one ingest process
already holds (uploaded under the file's names: set-up, not timed):

`import_coco_50k_boxes_s`: `POST /v1/batches/{id}/imports/annotations?format=coco` as the
client sees it: read (the client package's reader, in a worker thread), mapped onto the
project's ontology with every shape checked, every image matched to its item (one read of the
batch's items), and an `item.annotations_imported` event per item written to the outbox in
one transaction (goal 10 s); between runs the events are left to be published.
`import_coco_50k_boxes_check_s`: the mapping step alone
(`POST /v1/projects/{id}/imports/check`, the report without keeping anything).
`import_coco_50k_boxes_peak_rss_mb`: the ingest process's peak resident memory after both, the
service's own footprint included (goal 300 MB).
The export side (`export_all_formats_10k_s`) is in the `export` benchmark.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

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
        batch = ok("POST", f"/v1/projects/{project['id']}/batches", client, json={})
        upload_items(http, client, batch["id"])
        before = peak_rss_mb(services.procs["ingest"].pid)
        print(f"  ingest's peak RSS before: {before:.0f} MB", flush=True)
        checks, imports = [], []
        for run in range(runs):
            started = time.perf_counter()
            report = ok(
                "POST",
                f"/v1/projects/{project['id']}/imports/check",
                client,
                params={"format": "coco"},
                content=data,
            )
            checks.append(time.perf_counter() - started)
            print(f"  check: peak RSS {peak_rss_mb(services.procs['ingest'].pid):.0f} MB")
            if not report["ok"] or report["shapes"] != BOXES:
                raise RuntimeError(f"the import was not whole: {report}")
            started = time.perf_counter()
            done = ok(
                "POST",
                f"/v1/batches/{batch['id']}/imports/annotations",
                client,
                params={"format": "coco"},
                content=data,
            )
            imports.append(time.perf_counter() - started)
            if done["items"] != IMAGES:
                raise RuntimeError(f"the import matched {done['items']} items, not {IMAGES}")
            drained(http, operator, run + 1)
            print(
                f"  run {run}: import {imports[-1]:.2f} s, check {checks[-1]:.2f} s"
                f" ({len(data) / 1e6:.1f} MB file); ingest's peak RSS so far"
                f" {peak_rss_mb(services.procs['ingest'].pid):.0f} MB",
                flush=True,
            )
        rss = peak_rss_mb(services.procs["ingest"].pid)
    return {
        "import_coco_50k_boxes_s": round(statistics.median(imports), 2),
        "import_coco_50k_boxes_check_s": round(statistics.median(checks), 2),
        "import_coco_50k_boxes_peak_rss_mb": round(rss),
    }


UPLOAD_FILES = 100  # a multipart request's files


def drained(http: httpx.Client, operator: dict[str, str], runs: int, timeout_s: float = 60) -> None:
    """Wait until ingest has published every run's events so far (its counter of published
    `item.annotations_imported`), so each run's peak is its own, not one overlapping the last
    run's publishing."""
    wanted = f'type="item.annotations_imported"}} {float(runs * IMAGES)}'
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metrics = http.get("/metrics", headers=operator).text
        if any(
            line.startswith("aviary_events_published_total") and line.endswith(wanted)
            for line in metrics.splitlines()
        ):
            return
        time.sleep(0.2)
    raise TimeoutError("ingest's outbox did not drain")


def street_images() -> list[bytes]:
    """10,000 distinct 1280x720 JPEGs, the size the file gives: one grey picture encoded once,
    each copy with its number in a comment segment (ingest keeps one item per content and
    batch; encoding 10,000 pictures would take longer than the benchmark)."""
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), (96, 96, 96)).save(out, "JPEG", quality=75)
    body = out.getvalue()
    images = []
    for n in range(IMAGES):
        comment = f"street {n}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        images.append(body[:2] + segment + body[2:])  # after the start-of-image marker
    return images


def upload_items(http: httpx.Client, client: dict[str, str], batch_id: str) -> None:
    """The file's 10,000 images into the batch under the file's names (not timed)."""
    started = time.perf_counter()
    images = street_images()
    for first in range(0, IMAGES, UPLOAD_FILES):
        files = [
            ("files", (f"street_{n:05d}.jpg", images[n], "image/jpeg"))
            for n in range(first, min(first + UPLOAD_FILES, IMAGES))
        ]
        answer = http.post(f"/v1/batches/{batch_id}/items", headers=client, files=files)
        answer.raise_for_status()
    print(f"  {IMAGES} items uploaded in {time.perf_counter() - started:.1f} s", flush=True)
