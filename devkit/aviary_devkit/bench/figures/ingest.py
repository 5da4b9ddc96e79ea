"""`ingest`: sustained uploads into one ingest process, and oversized uploads refused."""

from __future__ import annotations

import asyncio
import signal

from aviary_devkit.bench import ingest_bench
from aviary_devkit.bench.figures.setups import Figures, ingest_alone, new_batch
from aviary_devkit.processes import isolated_settings


def bench_ingest(runs: int) -> Figures:
    """Sustained ingest into one ingest process (the other services are not running)."""
    settings = isolated_settings()
    multipart, single = [], []
    with ingest_alone(settings) as (services, base, token, project_id):
        for run in range(runs):
            images = ingest_bench.variants(8 * 20 * 10, seed=run)
            batch = new_batch(base, token, project_id)
            multipart.append(asyncio.run(ingest_bench.push(base, token, batch, images, 20)))
            images = ingest_bench.variants(400, seed=1000 + run)
            single.append(asyncio.run(ingest_bench.push(base, token, batch, images, 1)))
            print(
                f"  ingest run {run + 1}/{runs}: multipart {multipart[-1].per_s:.0f}/s "
                f"(p99 {multipart[-1].p99_ms:.0f} ms), single {single[-1].per_s:.0f}/s",
                flush=True,
            )
        # A fresh process, so its peak RSS is the refusals' alone.
        services.kill("ingest", signal.SIGTERM)
        services.start("ingest")
        services.wait_ready("ingest")
        batch = new_batch(base, token, project_id)
        size = settings.max_upload_bytes + (1 << 20)
        refused = asyncio.run(
            ingest_bench.refuse_large("127.0.0.1", services.port("ingest"), token, batch, size, 200)
        )
        peak = ingest_bench.peak_rss_mb(services.procs["ingest"].pid)
        print(f"  refused {refused}/200 uploads of {size >> 20} MB; peak RSS {peak:.0f} MB")
        if refused != 200:
            raise RuntimeError("some oversized uploads were not refused")
    per_s, p99 = ingest_bench.summarize(multipart)
    return {
        "ingest_images_per_s": round(per_s, 1),
        "ingest_p99_ms": round(p99, 1),
        "ingest_single_images_per_s": round(ingest_bench.summarize(single)[0], 1),
        "ingest_refused_peak_rss_mb": round(peak),
    }
