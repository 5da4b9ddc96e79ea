"""`export`: packaging 10,000 accepted images, in a process of its own (export_bench.py).

`export_10k_*`: COCO + YOLO. `export_all_formats_10k_s` (and its peak RSS): every image format
at once (COCO, YOLO, Pascal VOC, JSONL, Label Studio, CVAT, Datumaro, KITTI). Goals: 10 s and
300 MB; 20 s.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ROOT, cleanup_namespace, isolated_settings, settings_env


def bench_export(runs: int) -> Figures:
    """Package 10,000 accepted images with 50,000 boxes as COCO + YOLO, without image bytes."""
    settings = isolated_settings()
    env = settings_env(settings)
    module = [sys.executable, "-m", "aviary_devkit.bench.export_bench"]
    namespace = ["--namespace", settings.namespace]
    try:
        seed = [*module, "seed", *namespace]
        subprocess.run(seed, check=True, env=env, cwd=ROOT)  # noqa: S603 - our own module
        results: dict[str, list[dict[str, float]]] = {"coco,yolo": [], "all": []}
        for run in range(runs):
            for formats, done in results.items():
                out = subprocess.run(  # noqa: S603 - our own interpreter and module
                    [*module, "build", *namespace, "--formats", formats],
                    check=True,
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                ).stdout
                result = json.loads(out.strip().splitlines()[-1])
                done.append(result)
                print(
                    f"  export run {run + 1}/{runs} ({formats}): {result['seconds']:.2f} s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    finally:
        asyncio.run(cleanup_namespace(settings))
    two, every = results["coco,yolo"], results["all"]
    return {
        "export_10k_seconds": round(statistics.median(r["seconds"] for r in two), 2),
        "export_10k_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in two)),
        "export_all_formats_10k_s": round(statistics.median(r["seconds"] for r in every), 2),
        "export_all_formats_10k_peak_rss_mb": round(
            statistics.median(r["peak_rss_mb"] for r in every)
        ),
    }
