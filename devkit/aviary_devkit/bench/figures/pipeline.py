"""`pipeline`: 8 annotators label a batch until the client sees it accepted
(pipeline_bench.py drives them), with each process's CPU per task."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time

from aviary_devkit.bench import growth_bench, pipeline_bench
from aviary_devkit.bench.cpu import CpuMeter
from aviary_devkit.bench.figures.setups import Figures, infra_pids, production_timings
from aviary_devkit.processes import ROOT, ServiceSet, cleanup_namespace

# The services' logs of the last run, kept: a run whose accepts lag its submits (seen now and
# then, cause unknown) can be read afterwards.
LOGS = ROOT / "var" / "bench" / "logs" / "pipeline"


def pipeline_runs(
    images: int, runs: int, history: int = 0
) -> list[tuple[pipeline_bench.PipelineRun, dict[str, float]]]:
    """`runs` accept-pipeline measurements (a new client and batch each) on fresh services,
    in a namespace that has seen `history` items before; each with CPU-ms per task per
    process."""
    settings = production_timings()
    if history:
        asyncio.run(growth_bench.seed_history(settings, history))
    results = []
    shutil.rmtree(LOGS, ignore_errors=True)
    services = ServiceSet(settings, LOGS, port_offset=20_000)
    try:
        services.start_all()  # inside: a process that never got ready is stopped too
        key = settings.operator_key.get_secret_value()
        ingest, dispatch = services.url("ingest"), services.url("dispatch")
        for run in range(runs):
            tenant = asyncio.run(pipeline_bench.onboard(ingest, key))
            batch = asyncio.run(pipeline_bench.push_batch(ingest, tenant, images, run))
            # Let dispatch take in the batch's items before the clock starts.
            time.sleep(2)
            meter = CpuMeter(
                {name: [proc.pid] for name, proc in services.procs.items()} | infra_pids()
            )
            meter.start()
            result = asyncio.run(
                pipeline_bench.label_until_accepted(ingest, dispatch, tenant, batch, images)
            )
            cpu = meter.stop()
            results.append((result, {n: s * 1000 / images for n, s in cpu.items()}))
    finally:
        services.stop_all()
        asyncio.run(cleanup_namespace(settings))
    return results


def bench_pipeline(runs: int) -> Figures:
    """8 annotators label a batch (review mode auto), timed until the client sees it accepted."""
    rates, submits, costs = [], [], []
    for run, (result, cpu) in enumerate(pipeline_runs(1000, runs)):
        rates.append(result.accepted_per_s)
        submits.append(result.submit_per_s)
        costs.append(cpu)
        shares = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        print(
            f"  pipeline run {run + 1}/{runs}: submitted {result.submit_per_s:.0f}/s, "
            f"accepted {result.accepted_per_s:.0f}/s; CPU-ms per task: {shares}",
            flush=True,
        )
    figures: Figures = {
        "accept_pipeline_tasks_per_s": round(statistics.median(rates), 1),
        "accept_pipeline_submit_per_s": round(statistics.median(submits), 1),
    }
    for name in costs[0]:
        figures[f"accept_pipeline_cpu_ms_per_task_{name}"] = round(
            statistics.median(c[name] for c in costs), 2
        )
    return figures
