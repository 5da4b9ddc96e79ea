"""`video`: how fast video goes in, and how fast its tracks come out.

`video_ingest_realtime_factor`: seconds of 1280x720 30 fps video read, decoded, stored and
clipped per second of wall time, measured on the store step ingest will run for an uploaded
video (`store_video`: validate and decode with PyAV, JPEG every frame on encoder threads,
spool, then frames, preview sheets and the manifest into SeaweedFS), in a namespace of its own.
The HTTP upload route in front of it is not built yet, so the figure leaves out receiving the
body (for images that is a small part of the cost: `ingest_images_per_s`).

`video_export_100k_boxes_s` and `video_export_peak_rss_mb`: a delivery of tracks totalling
100,000 frame boxes in MOT, CVAT and COCO (`video_export_bench.py`), in a process of its own so
that its peak memory is the writer's.

`video_human_actions_ratio`: the simulated person's actions per tracked object over 300 frames
of the floor scene, boxing every frame over keyframes with interpolation and tracker help
(`sim/video_annotator.py`, CSRT); `video_assisted_track_iou` is how close the tracks made with
help are to the truth, frame by frame (boxing by hand is exact but for the person's noise).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.media.video import MovingBox, render
from aviary_devkit.processes import cleanup_namespace, isolated_settings
from aviary_devkit.sim.video_annotator import by_hand, with_help
from aviary_devkit.sim.video_scenes import floor_scene
from services.ingest.video import Sampling, VideoLimits
from services.ingest.video_store import ClipPlan, store_video
from shared.store.storage import ObjectStorage

SECONDS, FPS = 20, 30
STREET = (
    MovingBox(100, 300, 220, 140, 6, 0, (200, 40, 40)),  # a car crossing
    MovingBox(900, 250, 60, 160, -2, 0.5, (40, 40, 200)),  # a pedestrian
    MovingBox(600, 80, 30, 70, 0, 0, (40, 200, 40)),  # a traffic light
)


async def _runs(path: Path, sha: str, runs: int) -> list[float]:
    settings = isolated_settings()
    storage = ObjectStorage(settings)
    await storage.ensure_bucket(settings.images_bucket)
    factors = []
    try:
        for run in range(runs + 1):  # the first warms the storage connections
            started = time.perf_counter()
            stored = await store_video(
                storage,
                settings.images_bucket,
                f"org_video{run}",
                path,
                path.name,
                sha,
                VideoLimits(),
                Sampling(),
                ClipPlan(),
            )
            elapsed = time.perf_counter() - started
            if run:
                factors.append(stored.info.duration_s / elapsed)
                print(f"  {stored.info.frames} frames in {elapsed:.2f} s", flush=True)
    finally:
        await cleanup_namespace(settings)
    return factors


def bench_video(runs: int) -> Figures:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "street.mp4"
        video = render("mp4", frames=SECONDS * FPS, width=1280, height=720, fps=FPS, boxes=STREET)
        path.write_bytes(video)
        factors = asyncio.run(_runs(path, hashlib.sha256(video).hexdigest(), runs))
    exports = [_export_once() for _ in range(runs)]
    for export in exports:
        print(f"  export: {export['seconds']:.2f} s, {export['peak_rss_mb']:.0f} MB", flush=True)
    ratio, track_iou = _human_actions()
    return {
        "video_ingest_realtime_factor": round(statistics.median(factors), 2),
        "video_human_actions_ratio": round(ratio, 1),
        "video_assisted_track_iou": round(track_iou, 3),
        "video_export_100k_boxes_s": round(statistics.median(e["seconds"] for e in exports), 2),
        "video_export_peak_rss_mb": round(max(e["peak_rss_mb"] for e in exports), 1),
    }


def _export_once() -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "aviary_devkit.bench.video_export_bench"],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout))


def _human_actions() -> tuple[float, float]:
    """Boxing every frame over labeling with help, for every object of the floor scene."""
    scene = floor_scene(frames=300)
    by_hand_actions = helped_actions = 0
    ious = []
    for n in range(len(scene.truth)):
        effort, _ = with_help(scene, n, random.Random(n))
        by_hand_actions += by_hand(scene.truth[n]).actions
        helped_actions += effort.actions
        ious.append(effort.mean_iou)
        print(f"  object {n}: {effort.actions} actions, mean IoU {effort.mean_iou:.3f}", flush=True)
    return by_hand_actions / helped_actions, statistics.fmean(ious)
