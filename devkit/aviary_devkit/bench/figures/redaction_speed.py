"""`redaction_speed`: how many pictures one process redacts a second.

`redact_images_per_s`: 1280x720 JPEG street scenes from the simulator (`sim/scenes.py`,
quality 90) through `shared.vision.redaction.redact_jpeg` with its defaults, one after the
other in this process: decoded whole, searched for faces and plates with the default
`Detector` (frontal faces, profiles both ways, plates), the regions found blurred, the picture
encoded again. The median of `RUNS` runs over the same pictures, each run every picture once;
the cascades are read before the first run (a process reads them once). No service, no stack:
the figure is the redaction's own work, bound by its cascades' search (`SCALE` in the module
says what finding smaller faces would cost). Goal: 20 or more, on two cores.
"""

from __future__ import annotations

import statistics
import time

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.sim.scenes import generate_scene
from shared.vision.redaction import Detector, redact_jpeg

WIDTH, HEIGHT = 1280, 720
QUALITY = 90
RUNS = 3
FIRST_SEED = 7000


def street_jpegs(images: int) -> list[bytes]:
    """`images` different street scenes as the JPEG a client would push."""
    return [
        generate_scene(FIRST_SEED + n, WIDTH, HEIGHT).jpeg_bytes(QUALITY) for n in range(images)
    ]


def measure_redaction(images: int = 100, runs: int = RUNS) -> Figures:
    if images < 1 or runs < 1:
        raise ValueError(f"need at least a picture and a run, got {images} and {runs}")
    pictures = street_jpegs(images)
    detector = Detector()
    redact_jpeg(pictures[0], detector=detector)  # reads the cascades
    paces: list[float] = []
    for run in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        found = 0
        for picture in pictures:
            found += len(redact_jpeg(picture, detector=detector).regions)
        wall = time.perf_counter() - started
        cpu_ms = (time.process_time() - cpu) / images * 1000
        paces.append(images / wall)
        print(
            f"  run {run}: {images / wall:.1f} pictures/s, {cpu_ms:.0f} CPU-ms a picture,"
            f" {found} regions",
            flush=True,
        )
    return {"redact_images_per_s": round(statistics.median(paces), 1)}


if __name__ == "__main__":
    print(measure_redaction())
