"""`e2e`: the demo flow on a fresh deployment, and what one delivered image costs the
platform's processes and leaves in its databases and buckets."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from aviary.client.config import Endpoints
from aviary_devkit.bench.cpu import CpuMeter
from aviary_devkit.bench.figures.setups import Figures, infra_pids, production_timings
from aviary_devkit.processes import ServiceSet, cleanup_namespace
from aviary_devkit.sim.flow import FlowConfig, run_flow
from shared.settings import Settings
from shared.store.mongo import connect_mongo
from shared.store.storage import ObjectStorage


def e2e_once(images: int, seed: int) -> tuple[float, int, dict[str, float], dict[str, float]]:
    """One flow on a fresh deployment (own namespace, own service processes): its seconds,
    rejections, CPU-ms per delivered image of each server process, and its footprint: each
    service's peak memory (MB) and what one image leaves in each database and bucket (KB)."""
    settings = production_timings()
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        services.start_all()
        try:
            endpoints = Endpoints(
                *(services.url(n) for n in ("ingest", "dispatch", "review", "export"))
            )
            config = FlowConfig(
                images=images,
                seed=seed,
                error_rate=0.1,
                deliveries_dir=Path(tmp) / "deliveries",
                timeout_s=900,
            )
            key = settings.operator_key.get_secret_value()
            meter = CpuMeter(
                {name: [proc.pid] for name, proc in services.procs.items()} | infra_pids()
            )
            ops_before = asyncio.run(database_ops(settings))
            meter.start()
            result = asyncio.run(run_flow(endpoints, key, config, progress=lambda _: None))
            cpu = meter.stop()
            ops = asyncio.run(database_ops(settings)) - ops_before
            footprint = {
                f"peak_rss_mb_{name}": peak
                for name, peak in meter.peak_rss_mb().items()
                if name in services.procs
            }
            stored = asyncio.run(storage_used(settings))
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))
    delivered = result.manifest["counts"]["images"]
    if delivered != images:
        raise RuntimeError("the delivery is incomplete")
    per_image = {name: seconds * 1000 / delivered for name, seconds in cpu.items()}
    footprint |= {f"kb_per_image_{name}": size / 1024 / delivered for name, size in stored.items()}
    footprint["db_ops_per_image"] = ops / delivered
    return result.seconds, result.stats.rejected, per_image, footprint


async def database_ops(settings: Settings) -> int:
    """Operations the database server has answered so far (all clients: run alone)."""
    client = connect_mongo(settings)
    try:
        counters = (await client.admin.command("serverStatus"))["opcounters"]
    finally:
        await client.close()
    return sum(int(v) for v in counters.values())


async def storage_used(settings: Settings) -> dict[str, float]:
    """Bytes a namespace holds: each service's database (data and indexes) and each bucket."""
    client = connect_mongo(settings)
    used: dict[str, float] = {}
    try:
        for service in ("ingest", "dispatch", "review", "export"):
            stats = await client[settings.database_name(service)].command("dbStats")
            used[f"db_{service}"] = float(stats["dataSize"] + stats["indexSize"])
    finally:
        await client.close()
    storage = ObjectStorage(settings)
    for name, bucket in (
        ("images", settings.images_bucket),
        ("deliveries", settings.deliveries_bucket),
    ):
        used[f"objects_{name}"] = float((await storage.usage(bucket))[1])
    return used


def bench_e2e(runs: int) -> Figures:
    """The demo flow with 200 images: push, label, review (with rework), deliver, verify; and
    what one delivered image costs the platform's processes (simulated people excluded)."""
    images = 200
    seconds, costs, footprints = [], [], []
    for run in range(runs):
        took, rejected, per_image, footprint = e2e_once(images, seed=1000 * run)
        seconds.append(took)
        costs.append(per_image)
        footprints.append(footprint)
        shares = ", ".join(f"{k} {v:.1f}" for k, v in per_image.items())
        print(
            f"  e2e run {run + 1}/{runs}: {took:.1f} s ({rejected} rejections reworked); "
            f"CPU-ms per image {sum(per_image.values()):.1f}: {shares}",
            flush=True,
        )
    median = statistics.median(seconds)
    figures: Figures = {
        "e2e_images": images,
        "e2e_seconds": round(median, 2),
        "e2e_images_per_hour": round(images / median * 3600),
        "platform_cpu_ms_per_image": round(statistics.median(sum(c.values()) for c in costs), 1),
    }
    for name in costs[0]:
        figures[f"platform_cpu_ms_per_image_{name}"] = round(
            statistics.median(c[name] for c in costs), 1
        )
    for name in footprints[0]:
        figures[name] = round(statistics.median(f[name] for f in footprints), 1)
    return figures
