"""`assist`: how fast and how well a box becomes an outline, and what that saves a person.

One ingest and one assist process; street scenes and robot-vacuum floor frames at 1280x720,
pushed as a client would, with every object's true mask known. Eight simulated people outline
every object at once through `POST /v1/assist/segment` (GrabCut: no model is installed), as
`aviary_devkit.sim.assist_person` describes: the box from extreme clicks, then corrective clicks
while the outline is off.

`assist_click_to_mask_p99_ms`: the 99th percentile of a segment call's time as the people see it
(every call: boxes and corrections). Goal: 150 ms or less.
`assist_mask_iou`: the mean IoU of the outline made from the box alone with the true mask, on
the street and the floor scenes (`_street`, `_floor` each). Goal: 0.9 or more.
`assist_human_seconds_ratio`: the person's seconds per outlined object without help / with
help, under the action-cost model of `assist_person.py`. Goal: 3 or more.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from pycocotools import mask as coco_mask

from aviary_devkit.bench.figures.assist_prelabel import bench_assist_prelabel
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from aviary_devkit.sim.assist_person import (
    ActionCosts,
    Box,
    Click,
    Mask,
    Outlined,
    Tally,
    outline_with_help,
    tight_box,
)
from aviary_devkit.sim.scenes import generate_scene, object_masks
from aviary_devkit.sim.video_scenes import floor_scene

WIDTH, HEIGHT = 1280, 720
STREET_IMAGES = 10
FLOOR_IMAGES = 6
PEOPLE = 8
PASSES = 4  # each run outlines every object this often, for a p99 of a few hundred calls
MIN_SIDE = 12  # objects smaller than this (a far traffic light) are left out: nobody outlines them


@dataclass(frozen=True)
class Picture:
    kind: str  # street | floor
    name: str
    jpeg: bytes
    masks: list[Mask]


def bench_assist(runs: int) -> Figures:
    return {**bench_outlines(runs), **bench_assist_prelabel(runs)}


def bench_outlines(runs: int) -> Figures:
    settings = isolated_settings()
    pictures = street_pictures() + floor_pictures()
    with tempfile.TemporaryDirectory(prefix="aviary-assist-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        try:
            for name in ("ingest", "assist"):
                services.start(name)
            for name in ("ingest", "assist"):
                services.wait_ready(name)
            key = settings.operator_key.get_secret_value()
            return asyncio.run(_measure(services, key, pictures, runs))
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


def street_pictures() -> list[Picture]:
    pictures = []
    for seed in range(STREET_IMAGES):
        scene = generate_scene(1000 + seed, WIDTH, HEIGHT)
        masks = [np.asarray(m, dtype=np.uint8) > 0 for m in object_masks(scene)]
        pictures.append(Picture("street", f"street_{seed}.jpg", scene.jpeg_bytes(92), masks))
    return pictures


def floor_pictures() -> list[Picture]:
    pictures = []
    for seed in range(FLOOR_IMAGES):
        scene = floor_scene(frames=1, width=WIDTH, height=HEIGHT, seed=seed)
        frame = scene.frames[0]
        masks = []
        for boxes in scene.truth:
            if boxes[0] is None:
                continue
            x, y, w, h = (int(v) for v in boxes[0])
            mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
            mask[y : y + h, x : x + w] = True
            masks.append(mask)
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        pictures.append(Picture("floor", f"floor_{seed}.jpg", jpeg.tobytes(), masks))
    return pictures


def decode(rle: dict[str, Any]) -> Mask:
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, list):
        encoded = coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    else:
        encoded = {"size": [height, width], "counts": counts.encode()}
    return np.asarray(coco_mask.decode(encoded), dtype=bool)


class Desk:
    """The people's side: a client that pushes the pictures, annotators who outline."""

    def __init__(self, services: ServiceSet, operator: str) -> None:
        self.ingest = services.url("ingest")
        self.assist = services.url("assist")
        self.operator = operator
        self.http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32))
        self.latencies_ms: list[float] = []

    async def ok(self, method: str, url: str, token: str, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        answer = await self.http.request(method, url, headers=headers, **kwargs)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {url} -> {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    async def set_up(self, pictures: list[Picture]) -> dict[str, Picture]:
        """A client, a vendor with an annotator, a polygon project; the pictures pushed."""
        ing, op = self.ingest, self.operator
        client = await self.ok("POST", f"{ing}/v1/orgs", op, json={"name": "c", "kind": "client"})
        vendor = await self.ok("POST", f"{ing}/v1/orgs", op, json={"name": "v", "kind": "vendor"})

        async def token(org: str, role: str, subject: str) -> str:
            body = {"org_id": org, "role": role, "subject": subject}
            return str((await self.ok("POST", f"{ing}/v1/tokens", op, json=body))["token"])

        self.client = await token(client["id"], "client", "bench")
        # One token a person: each is rate-limited on its own, as people are.
        self.people = [
            await token(vendor["id"], "annotator", f"bench-annotator-{n}") for n in range(PEOPLE)
        ]
        self.annotator = self.people[0]
        project = await self.ok(
            "POST",
            f"{ing}/v1/projects",
            self.client,
            json={
                "name": "outlines",
                "ontology": {"classes": [{"id": 1, "name": "object", "kind": "polygon"}]},
                "vendors": [{"vendor_id": vendor["id"], "share": 1.0}],
            },
        )
        batch = await self.ok(
            "POST", f"{ing}/v1/projects/{project['id']}/batches", self.client, json={}
        )
        items: dict[str, Picture] = {}
        for picture in pictures:
            item = await self.ok(
                "POST",
                f"{ing}/v1/batches/{batch['id']}/items",
                self.client,
                content=picture.jpeg,
                params={"file_name": picture.name},
                headers={"content-type": "image/jpeg"},
            )
            items[item["id"]] = picture
        await self.known(list(items))
        return items

    async def known(self, item_ids: list[str], timeout_s: float = 60) -> None:
        """Wait until assist has every item (it learns them from `item.ingested`)."""
        deadline = time.monotonic() + timeout_s
        for item_id in item_ids:
            while True:
                answer = await self.http.post(
                    f"{self.assist}/v1/assist/segment",
                    headers={"Authorization": f"Bearer {self.annotator}"},
                    json={"item_id": item_id, "box": [10, 10, 50, 50]},
                )
                if answer.status_code == 200:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"assist never learned {item_id}: {answer.text}")
                await asyncio.sleep(0.2)

    def segmenter(self, item_id: str, token: str) -> Any:
        async def segment(box: Box, clicks: list[Click]) -> Mask:
            body = {
                "item_id": item_id,
                "box": list(box),
                "clicks": [{"x": x, "y": y, "positive": inside} for x, y, inside in clicks],
            }
            started = time.perf_counter()
            result = await self.ok("POST", f"{self.assist}/v1/assist/segment", token, json=body)
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            return decode(result["rle"])

        return segment

    async def outline_all(self, items: dict[str, Picture]) -> list[tuple[str, Outlined]]:
        """Every object, by `PEOPLE` people at once."""
        work: asyncio.Queue[tuple[str, str, Mask]] = asyncio.Queue()
        outlined = [
            (item_id, picture.kind, mask)
            for item_id, picture in items.items()
            for mask in picture.masks
            if mask.any() and min(tight_box(mask)[2:]) >= MIN_SIDE
        ]
        for one in outlined * PASSES:
            work.put_nowait(one)
        done: list[tuple[str, Outlined]] = []

        async def person(token: str) -> None:
            while not work.empty():
                item_id, kind, mask = work.get_nowait()
                done.append((kind, await outline_with_help(mask, self.segmenter(item_id, token))))

        await asyncio.gather(*(person(token) for token in self.people))
        return done


async def _measure(
    services: ServiceSet, operator: str, pictures: list[Picture], runs: int
) -> Figures:
    desk = Desk(services, operator)
    costs = ActionCosts()
    try:
        items = await desk.set_up(pictures)
        await desk.outline_all(items)  # warm: the image cache and the thread pool
        p99s, ratios, ious = [], [], []
        by_kind: dict[str, list[float]] = {"street": [], "floor": []}
        for run in range(runs):
            desk.latencies_ms = []
            done = await desk.outline_all(items)
            latencies = sorted(desk.latencies_ms)
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            tally = Tally([o for _, o in done])  # the passes alike: the ratio is per object
            first = [o.first_iou for _, o in done]
            for kind, outlined in done:
                by_kind[kind].append(outlined.first_iou)
            print(
                f"  run {run}: {len(latencies)} calls, p50 {statistics.median(latencies):.0f} ms,"
                f" p99 {p99:.0f} ms; IoU {statistics.mean(first):.3f};"
                f" {sum(o.clicks for o in tally.objects)} corrective clicks,"
                f" {sum(o.by_hand for o in tally.objects)} of {len(done)} drawn by hand;"
                f" ratio {tally.ratio(costs):.2f}",
                flush=True,
            )
            p99s.append(p99)
            ratios.append(tally.ratio(costs))
            ious.append(statistics.mean(first))
    finally:
        await desk.http.aclose()
    return {
        "assist_click_to_mask_p99_ms": round(statistics.median(p99s), 1),
        "assist_mask_iou": round(statistics.median(ious), 3),
        "assist_mask_iou_street": round(statistics.mean(by_kind["street"]), 3),
        "assist_mask_iou_floor": round(statistics.mean(by_kind["floor"]), 3),
        "assist_human_seconds_ratio": round(statistics.median(ratios), 2),
    }
