"""`scale`: 2,000 images end to end with one and two dispatch processes, and where work
piles up (the queues' peak depths)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

from aviary.client.config import Endpoints
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from aviary_devkit.sim.flow import FlowConfig, run_flow
from shared.messaging import SUBSCRIPTIONS, Broker, queue_counts
from shared.settings import SERVICE_PORTS, Settings


async def watch_queues(settings: Settings, stop: asyncio.Event) -> dict[str, int]:
    """The most messages each service's queue held while a flow ran: where work piles up."""
    broker = Broker(settings)
    await broker.connect()
    peak = dict.fromkeys(SUBSCRIPTIONS, 0)
    try:
        while not stop.is_set():
            for service in SUBSCRIPTIONS:
                waiting = (await queue_counts(broker, service))["waiting"]
                peak[service] = max(peak[service], waiting)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)
    finally:
        await broker.close()
    return peak


def e2e_at_scale(
    images: int, dispatch_replicas: int, stack: dict[str, Any] | None = None, replicas: int = 1
) -> tuple[float, dict[str, int]]:
    """One flow of `images` on a fresh deployment with N dispatch processes (`replicas`
    processes of every other service), on the stack the `stack` settings point at."""
    settings = isolated_settings(
        lease_ttl_s=300, max_attempts=5, retry_delays_ms=[500, 2000, 5000], **(stack or {})
    )
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        services.start_all()
        for name in SERVICE_PORTS:
            for i in range(1, dispatch_replicas if name == "dispatch" else replicas):
                services.wait_ready(services.start_replica(name, i), 120)
        try:
            names = ("ingest", "dispatch", "review", "export")
            endpoints = Endpoints(*(services.url(n) for n in names))
            config = FlowConfig(
                images=images,
                seed=7,
                error_rate=0.1,
                deliveries_dir=Path(tmp) / "out",
                timeout_s=3600,
                annotators_per_vendor=4,
                dispatch_urls=tuple(
                    f"http://127.0.0.1:{services.port('dispatch', i)}"
                    for i in range(dispatch_replicas)
                ),
            )
            key = settings.operator_key.get_secret_value()

            async def run() -> tuple[float, dict[str, int]]:
                stop = asyncio.Event()
                watcher = asyncio.create_task(watch_queues(settings, stop))
                result = await run_flow(endpoints, key, config, progress=lambda _: None)
                stop.set()
                return result.seconds, await watcher

            return asyncio.run(run())
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


def bench_scale(runs: int) -> Figures:
    """2,000 images end to end, with 1 and then 2 dispatch processes (the busiest service)."""
    images = 2000
    figures: Figures = {}
    for replicas in (1, 2):
        seconds = []
        for run in range(runs):
            took, peaks = e2e_at_scale(images, replicas)
            seconds.append(took)
            busiest = max(peaks, key=lambda s: peaks[s])
            print(
                f"  r{replicas} run {run + 1}/{runs}: {took:.0f} s; peak queue depths {peaks}"
                f" (grows most: {busiest})",
                flush=True,
            )
        figures[f"e2e_2000_images_per_hour_r{replicas}"] = round(
            images / statistics.median(seconds) * 3600
        )
    return figures
