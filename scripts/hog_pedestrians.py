"""Does OpenCV's built-in HOG people detector earn a place as assist's default pre-labeler?

    .venv/bin/python scripts/hog_pedestrians.py [scenes]

Runs the detector (no weights to fetch: its SVM ships in the OpenCV wheel) over the
simulator's 1280x720 street scenes and counts its boxes against the true pedestrians (a hit
at IoU 0.5 or more). The answer is in docs/assist.md.
"""

from __future__ import annotations

import statistics
import sys
import time

import cv2
import numpy as np

from aviary_devkit.sim.scenes import generate_scene

MATCH_IOU = 0.5


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    both = width * height
    return both / (aw * ah + bw * bh - both)


def main(scenes: int) -> None:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
    pedestrians = hits = misfires = 0
    seconds = []
    for seed in range(scenes):
        scene = generate_scene(1000 + seed, 1280, 720)
        image = cv2.imdecode(np.frombuffer(scene.jpeg_bytes(92), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        truth = [(b.x, b.y, b.w, b.h) for b in scene.boxes if b.label == "pedestrian"]
        started = time.perf_counter()
        found, _ = hog.detectMultiScale(image, winStride=(8, 8), scale=1.05)
        seconds.append(time.perf_counter() - started)
        pedestrians += len(truth)
        for box in found:
            if any(iou(tuple(map(float, box)), t) >= MATCH_IOU for t in truth):
                hits += 1
            else:
                misfires += 1
    print(
        f"{scenes} scenes, {pedestrians} pedestrians: {hits} found, {misfires} boxes on"
        f" something else; {statistics.median(seconds) * 1000:.0f} ms an image (median)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
