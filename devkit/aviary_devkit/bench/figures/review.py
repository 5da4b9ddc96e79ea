"""`review`: consensus in process, and submitted tasks one review process records a second."""

from __future__ import annotations

import asyncio
import signal
import statistics
import tempfile
import time
from pathlib import Path

from aviary_devkit.bench import review_bench
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from shared.messaging import Broker, queue_counts
from shared.settings import Settings
from shared.store.mongo import connect_mongo


def review_once(events: int) -> float:
    """Submitted tasks per second one review process records (auto-accept)."""
    settings = isolated_settings()
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        try:
            asyncio.run(review_bench.seed(settings))
            services.start("review")
            services.wait_ready("review")
            services.procs["review"].send_signal(signal.SIGSTOP)
            asyncio.run(review_bench.publish(settings, events))
            started = time.monotonic()
            services.procs["review"].send_signal(signal.SIGCONT)
            asyncio.run(wait_recorded(settings, events, timeout_s=600))
            return events / (time.monotonic() - started)
        finally:
            services.procs["review"].send_signal(signal.SIGCONT)
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


async def wait_recorded(settings: Settings, events: int, timeout_s: float) -> None:
    """Until review's queue is empty and every submission is in its database (counted only
    then: a count reads the whole collection)."""
    broker = Broker(settings)
    await broker.connect()
    mongo = connect_mongo(settings)
    submissions = mongo[settings.database_name("review")]["submissions"]
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            drained = (await queue_counts(broker, "review"))["waiting"] == 0
            if drained and await submissions.count_documents({}) >= events:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("review did not record every submission in time")
    finally:
        await broker.close()
        await mongo.close()


def bench_review(runs: int) -> Figures:
    """Consensus of 3 x 30 boxes, and submitted tasks recorded per second by one review
    process with auto-accept."""
    consensus_ms = statistics.median(review_bench.consensus_ms() for _ in range(runs))
    print(f"  consensus 3 x 30 boxes: {consensus_ms:.2f} ms (median)", flush=True)
    rates = []
    for run in range(runs):
        rates.append(review_once(3000))
        print(f"  review run {run + 1}/{runs}: {rates[-1]:.0f} submitted tasks/s", flush=True)
    return {
        "review_consensus_ms": round(consensus_ms, 2),
        "review_tasks_per_s": round(statistics.median(rates), 1),
    }
