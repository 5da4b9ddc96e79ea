"""`dispatch`: simulated annotators leasing and submitting against 1, 2 and 3 dispatch
processes (dispatch_bench.py drives them)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aviary_devkit.bench import dispatch_bench
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings


def dispatch_once(
    replicas: int, paced_per_s: float | None = None, tasks: int | None = None, windows: int = 1
) -> list[dispatch_bench.Load]:
    """`windows` measurements on fresh dispatch processes over `tasks` freshly seeded ones."""
    # The production timings, not the tests' short ones.
    settings = isolated_settings(lease_ttl_s=300, lease_sweep_s=2.0, pool_sync_s=5.0)
    annotators, seconds = 50, 10.0
    if tasks is None:
        tasks = 20_000 if paced_per_s is None else 2_000
    asyncio.run(dispatch_bench.seed(settings, tasks))
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        try:
            keys = ["dispatch"] + [
                services.start_replica("dispatch", i) for i in range(1, replicas)
            ]
            services.start("dispatch")
            for key in keys:
                services.wait_ready(key)
            # Settled: the processes know of each other (they beat every second) and have
            # made their first pool read, which re-reads the tasks of the seconds before the
            # start (all those just seeded; a burst of new tasks costs the same at any time).
            time.sleep(settings.pool_sync_s + 1)
            urls = [f"http://127.0.0.1:{services.port('dispatch', i)}" for i in range(replicas)]
            if paced_per_s is None:
                load = dispatch_bench.saturate(urls, settings, annotators, seconds)
                return [asyncio.run(load)]
            return [
                asyncio.run(dispatch_bench.paced(urls, settings, annotators, paced_per_s, seconds))
                for _ in range(windows)
            ]
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


def bench_dispatch(runs: int) -> Figures:
    """50 simulated annotators leasing and submitting: throughput with 1, 2 and 3 dispatch
    processes, and `next` latency at an offered 100 tasks/s."""
    figures: Figures = {}
    for replicas in (1, 2, 3):
        rates = []
        for run in range(runs):
            (load,) = dispatch_once(replicas)
            rates.append(load.per_s)
            print(
                f"  dispatch r{replicas} run {run + 1}/{runs}: {load.per_s:.0f} tasks/s "
                f"(next p50 {load.next_p(50):.0f} ms, p99 {load.next_p(99):.0f} ms, "
                f"{load.conflicts} lost leases, {load.empty} empty polls)",
                flush=True,
            )
        figures[f"dispatch_tasks_per_s_r{replicas}"] = round(statistics.median(rates), 1)
    figures["dispatch_tasks_per_s"] = figures["dispatch_tasks_per_s_r1"]
    p99s = []
    for run in range(runs):
        (load,) = dispatch_once(1, paced_per_s=100)
        p99s.append(load.next_p(99))
        print(
            f"  dispatch paced run {run + 1}/{runs}: {load.per_s:.0f} tasks/s offered 100, "
            f"next p50 {load.next_p(50):.1f} ms, p99 {load.next_p(99):.1f} ms",
            flush=True,
        )
    figures["dispatch_next_p99_ms"] = round(statistics.median(p99s), 1)
    return figures
