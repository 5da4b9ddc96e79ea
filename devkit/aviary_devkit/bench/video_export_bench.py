"""A video delivery of tracks totalling 100,000 frame boxes, in MOT, CVAT and COCO.

Run as its own process (`python -m aviary_devkit.bench.video_export_bench`) so that its peak
resident memory is the writer's alone; prints seconds and peak RSS as JSON.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from aviary.contracts.shapes import BoxShape, Ontology, OntologyClass
from aviary.contracts.tracks import Keyframe, Track
from services.export.formats.video import VideoItem, VideoPackageWriter, VideoSpec

VIDEOS, TRACKS, FRAMES, KEY_EVERY = 10, 10, 1_000, 10  # 10 x 10 x 1,000 = 100,000 boxes
ONTOLOGY = Ontology(
    classes=(OntologyClass(id=1, name="car"), OntologyClass(id=2, name="pedestrian"))
)


def track(video: int, n: int) -> Track:
    keys = tuple(
        Keyframe(
            frame=f,
            shape=BoxShape(
                class_id=1 + n % 2,
                bbox=(10.0 + n * 20 + f * 0.5, 50.0 + (f % 37), 40.0, 30.0 + n),
            ),
            occluded=(f // KEY_EVERY) % 7 == 3,
        )
        for f in [*range(0, FRAMES, KEY_EVERY), FRAMES - 1]
    )
    return Track(track_id=f"{video}:{n}", keyframes=keys)


def items() -> list[VideoItem]:
    return [
        VideoItem(
            item_id=f"itm_video{v:04d}",
            file_name=f"drive-{v}.mp4",
            width=1280,
            height=720,
            fps=30,
            frame_count=FRAMES,
            tracks=tuple(track(v, n) for n in range(TRACKS)),
        )
        for v in range(VIDEOS)
    ]


def main() -> None:
    videos = items()
    spec = VideoSpec("dlv_bench", "prj_bench", "bat_bench", ONTOLOGY, 1, ("mot", "cvat", "coco"))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        writer = VideoPackageWriter(Path(folder) / "delivery.zip", Path(folder), spec)
        for item in videos:
            writer.add(item)
        summary = writer.close()
        elapsed = time.perf_counter() - started
    assert summary.annotations == VIDEOS * TRACKS * FRAMES, summary.annotations
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_rss_kb() / 1024}))


def peak_rss_kb() -> int:
    """This process's peak resident memory since it was exec'd. (getrusage's ru_maxrss keeps
    the peak of the process that forked it, here the benchmark with its videos in memory.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main()
