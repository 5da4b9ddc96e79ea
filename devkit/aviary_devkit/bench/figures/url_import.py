"""`url_import`: 2,000 image URLs on a local server, imported by one ingest process."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from aviary_devkit.bench import import_bench
from aviary_devkit.bench.cpu import CpuMeter
from aviary_devkit.bench.figures.setups import Figures, infra_pids, ingest_alone, new_batch
from aviary_devkit.processes import isolated_settings


def bench_url_import(runs: int) -> Figures:
    """2,000 image URLs on a local server: one import, fetched, validated and stored by one
    ingest process (the other services are not running)."""
    images = 2000
    rates = []
    with (
        ingest_alone(isolated_settings()) as (services, base, token, project_id),
        tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp,
    ):
        for run in range(runs):
            folder = Path(tmp) / f"images-{run}"
            with import_bench.image_server(folder, images, seed=run, port=28_900) as origin:
                batch = new_batch(base, token, project_id)
                cpu = CpuMeter({"ingest": [services.procs["ingest"].pid]} | infra_pids())
                cpu.start()
                seconds = asyncio.run(import_bench.run_import(base, token, batch, origin, images))
                used = cpu.stop()
            rates.append(images / seconds)
            shares = ", ".join(f"{k} {v:.0f} s" for k, v in used.items())
            print(
                f"  url import run {run + 1}/{runs}: {rates[-1]:.0f} images/s "
                f"({seconds:.1f} s; CPU {shares})",
                flush=True,
            )
    return {"url_import_images_per_s": round(statistics.median(rates), 1)}
