"""`growth`: the same work with 10,000 and with 200,000 of everything already there."""

from __future__ import annotations

import asyncio
import statistics

from aviary_devkit.bench import growth_bench, ingest_bench
from aviary_devkit.bench.figures.dispatch import dispatch_once
from aviary_devkit.bench.figures.pipeline import pipeline_runs
from aviary_devkit.bench.figures.setups import Figures, ingest_alone, new_batch, production_timings

SMALL_HISTORY, LARGE_HISTORY = 10_000, 200_000
# Windows of 10 s per size for the p99: one window in a few holds a stall of the database
# (at either size: 134 ms at 10,000 and 227 ms at 200,000 beside 15-19 ms in the others), so
# the median of two (their mean) measured the stall, not the size.
P99_WINDOWS = 5


def ingest_rate_with_history(history: int, runs: int) -> float:
    """Multipart uploads per second into a project that already holds `history` items."""
    settings = production_timings()
    rates = []
    with ingest_alone(settings) as (_, base, token, project_id):
        asyncio.run(growth_bench.seed_history(settings, history, project_id))
        for run in range(runs):
            images = ingest_bench.variants(1600, seed=run)
            batch = new_batch(base, token, project_id)
            rates.append(asyncio.run(ingest_bench.push(base, token, batch, images, 20)).per_s)
    return statistics.median(rates)


def bench_growth(runs: int) -> Figures:
    """The same work with 10,000 and with 200,000 of everything already there: next-task
    latency (open tasks), the accept pipeline and ingest (items seen before)."""
    figures: Figures = {}
    p99: dict[int, float] = {}
    for tasks in (SMALL_HISTORY, LARGE_HISTORY):
        loads = dispatch_once(1, paced_per_s=100, tasks=tasks, windows=max(runs, P99_WINDOWS))
        p99[tasks] = statistics.median(load.next_p(99) for load in loads)
        print(f"  next p99 with {tasks:,} open tasks: {p99[tasks]:.1f} ms", flush=True)
    accept: dict[int, float] = {}
    ingest: dict[int, float] = {}
    for history in (SMALL_HISTORY, LARGE_HISTORY):
        rates = [run.accepted_per_s for run, _ in pipeline_runs(1000, runs, history)]
        accept[history] = statistics.median(rates)
        print(
            f"  accept pipeline after {history:,} items: {accept[history]:.1f} tasks/s", flush=True
        )
        ingest[history] = ingest_rate_with_history(history, runs)
        print(f"  ingest into a project of {history:,} items: {ingest[history]:.0f}/s", flush=True)
    for name, values in (
        ("next_p99_ms", p99),
        ("accept_tasks_per_s", accept),
        ("ingest_images_per_s", ingest),
    ):
        figures[f"growth_{name}_10k"] = round(values[SMALL_HISTORY], 1)
        figures[f"growth_{name}_200k"] = round(values[LARGE_HISTORY], 1)
    figures["next_p99_growth_ratio"] = round(p99[LARGE_HISTORY] / p99[SMALL_HISTORY], 2)
    figures["accept_growth_ratio"] = round(accept[LARGE_HISTORY] / accept[SMALL_HISTORY], 2)
    figures["ingest_growth_ratio"] = round(ingest[LARGE_HISTORY] / ingest[SMALL_HISTORY], 2)
    return figures
