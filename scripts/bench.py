"""`make bench`: run the benchmarks, print a table, record the figures.

    python scripts/bench.py                 # every benchmark
    python scripts/bench.py --only e2e      # one of them

Figures go, as one flat JSON object keyed as the issues name them, into
var/bench/results.json (merged with earlier figures), and a dated table into
docs/benchmarks.md. Each benchmark brings up what it needs itself, in a namespace of its own,
and reports the median of several runs: this machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from aviary.client.config import Endpoints
from aviary_devkit.bench import (
    dispatch_bench,
    growth_bench,
    import_bench,
    ingest_bench,
    pipeline_bench,
    review_bench,
)
from aviary_devkit.bench.cpu import CpuMeter, listener_pids
from aviary_devkit.processes import (
    ROOT,
    ServiceSet,
    cleanup_namespace,
    isolated_settings,
    settings_env,
)
from aviary_devkit.sim.flow import FlowConfig, run_flow
from shared.messaging import SUBSCRIPTIONS, Broker, queue_counts
from shared.settings import SERVICE_PORTS, Settings
from shared.store.mongo import connect_mongo
from shared.store.storage import ObjectStorage

RESULTS = ROOT / "var" / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"

Figures = dict[str, float]


def ensure_infra() -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stack.py"), "infra"], check=True)


def infra_pids() -> dict[str, list[int]]:
    """The embedded stack's server processes (those listening where the settings point):
    what a service's work costs beyond itself."""
    settings = Settings()
    mongo = urlsplit(settings.mongo_url.split(",")[0]).port or 27017
    return {
        "database": listener_pids(mongo),
        "storage": [int((ROOT / "var" / "run" / "seaweedfs.pid").read_text().split()[0])],
        "broker": listener_pids(urlsplit(settings.amqp_url).port or 5672),
    }


def production_timings() -> Settings:
    """A fresh namespace with the production timings (lease sweeps, pool reads, outbox
    polls), not the tests' short ones: their background reads are part of the cost."""
    defaults = Settings()
    timings = (
        "lease_ttl_s",
        "lease_sweep_s",
        "pool_sync_s",
        "outbox_poll_s",
        "backlog_takeover_s",
        "rework_exclusive_s",
        "max_attempts",
        "retry_delays_ms",
    )
    return isolated_settings(**{name: getattr(defaults, name) for name in timings})


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


def bench_export(runs: int) -> Figures:
    """Package 10,000 accepted images with 50,000 boxes as COCO + YOLO, without image bytes."""
    settings = isolated_settings()
    env = settings_env(settings)
    module = [sys.executable, "-m", "aviary_devkit.bench.export_bench"]
    namespace = ["--namespace", settings.namespace]
    try:
        subprocess.run([*module, "seed", *namespace], check=True, env=env, cwd=ROOT)
        results = []
        for run in range(runs):
            out = subprocess.run(
                [*module, "build", *namespace],
                check=True,
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            results.append(result)
            print(
                f"  export run {run + 1}/{runs}: {result['seconds']:.2f} s, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    finally:
        asyncio.run(cleanup_namespace(settings))
    return {
        "export_10k_seconds": round(statistics.median(r["seconds"] for r in results), 2),
        "export_10k_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in results)),
    }


def _ingest_tenant(base: str, operator: str) -> tuple[str, str]:
    """A client and a project on a running ingest; returns (client token, project id)."""
    op = {"Authorization": f"Bearer {operator}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        org = http.post("/v1/orgs", json={"name": "bench", "kind": "client"}, headers=op).json()
        vendor = http.post("/v1/orgs", json={"name": "v", "kind": "vendor"}, headers=op).json()
        token = http.post(
            "/v1/tokens",
            headers=op,
            json={"org_id": org["id"], "role": "client", "subject": "bench"},
        ).json()["token"]
        project = http.post(
            "/v1/projects",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "name": "bench",
                "ontology": {"classes": [{"id": 1, "name": "car"}]},
                "vendors": [{"vendor_id": vendor["id"], "share": 1.0}],
            },
        ).json()
    return token, project["id"]


def _new_batch(base: str, token: str, project_id: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as http:
        return str(
            http.post(
                f"/v1/projects/{project_id}/batches",
                json={},
                headers={"Authorization": f"Bearer {token}"},
            ).json()["id"]
        )


@contextlib.contextmanager
def ingest_alone(settings: Settings) -> Iterator[tuple[ServiceSet, str, str, str]]:
    """One ingest process (the other services are not running) with a client and a project:
    (the processes, ingest's URL, the client's token, the project id)."""
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
        try:
            services.start("ingest")
            services.wait_ready("ingest")
            base = services.url("ingest")
            token, project_id = _ingest_tenant(base, settings.operator_key.get_secret_value())
            yield services, base, token, project_id
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


def bench_ingest(runs: int) -> Figures:
    """Sustained ingest into one ingest process (the other services are not running)."""
    settings = isolated_settings()
    multipart, single = [], []
    with ingest_alone(settings) as (services, base, token, project_id):
        for run in range(runs):
            images = ingest_bench.variants(8 * 20 * 10, seed=run)
            batch = _new_batch(base, token, project_id)
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
        batch = _new_batch(base, token, project_id)
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
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=20_000)
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
                batch = _new_batch(base, token, project_id)
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


SMALL_HISTORY, LARGE_HISTORY = 10_000, 200_000


def ingest_rate_with_history(history: int, runs: int) -> float:
    """Multipart uploads per second into a project that already holds `history` items."""
    settings = production_timings()
    rates = []
    with ingest_alone(settings) as (_, base, token, project_id):
        asyncio.run(growth_bench.seed_history(settings, history, project_id))
        for run in range(runs):
            images = ingest_bench.variants(1600, seed=run)
            batch = _new_batch(base, token, project_id)
            rates.append(asyncio.run(ingest_bench.push(base, token, batch, images, 20)).per_s)
    return statistics.median(rates)


def bench_growth(runs: int) -> Figures:
    """The same work with 10,000 and with 200,000 of everything already there: next-task
    latency (open tasks), the accept pipeline and ingest (items seen before)."""
    figures: Figures = {}
    p99: dict[int, float] = {}
    for tasks in (SMALL_HISTORY, LARGE_HISTORY):
        loads = dispatch_once(1, paced_per_s=100, tasks=tasks, windows=runs)
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


CLUSTER = ROOT / "scripts" / "cluster.py"


def cluster(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(CLUSTER), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def bench_cluster(runs: int) -> Figures:
    """The 2,000-image flow on the clustered stack (three broker nodes, three volume servers,
    two processes per service) beside the same flow on the single-node stack; then the
    node-fault chaos scenario on the cluster (a broker node killed, another restarted, a
    volume server killed), whose lost and duplicated images are the figures."""
    images = 2000
    single = [e2e_at_scale(images, 1)[0] for _ in range(runs)]
    print(f"  single node: {statistics.median(single):.0f} s for {images} images", flush=True)
    urls = json.loads(cluster("urls"))
    cluster("infra")
    try:
        stack = {
            "amqp_urls": urls["amqp"],
            "quorum_group_size": len(urls["amqp"]),
            "s3_endpoint": urls["s3"],
        }
        clustered = [e2e_at_scale(images, 2, stack, replicas=2)[0] for _ in range(runs)]
        print(f"  cluster: {statistics.median(clustered):.0f} s for {images} images", flush=True)
    finally:
        if not urls["running"]:
            cluster("down")
    env = {**os.environ, "AVIARY_CHAOS_IMAGES": "200"}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "chaos", "tests/chaos/test_cluster.py"],
        check=True,
        cwd=ROOT,
        env=env,
    )
    report = json.loads((ROOT / "var" / "chaos" / "report.json").read_text())
    (row,) = [t for t in report["tests"] if t["test"] == "cluster-node-faults"]
    return {
        "cluster_images_per_hour": round(images / statistics.median(clustered) * 3600),
        "single_node_images_per_hour": round(images / statistics.median(single) * 3600),
        "cluster_node_kill_images": row["images_in"],
        "cluster_node_kill_lost": row["lost"],
        "cluster_node_kill_duplicated": row["duplicates"],
        "cluster_node_kill_stuck": row["tasks_stuck"],
    }


OPT_IN = frozenset({"scale", "growth", "cluster"})
BENCHMARKS: dict[str, Callable[[int], Figures]] = {
    "e2e": bench_e2e,
    "ingest": bench_ingest,
    "export": bench_export,
    "dispatch": bench_dispatch,
    "review": bench_review,
    "scale": bench_scale,
    "pipeline": bench_pipeline,
    "url_import": bench_url_import,
    "growth": bench_growth,
    "cluster": bench_cluster,
}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def record(figures: Figures, names: list[str], runs: int) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **figures}, indent=2, sort_keys=True) + "\n")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(f"| `{k}` | {v:g} |" for k, v in figures.items())
    section = (
        f"\n## {stamp}: `make bench{' BENCH=' + names[0] if len(names) == 1 else ''}`\n\n"
        f"Machine: {machine()}; embedded stack; median of {runs} runs.\n\n"
        f"| figure | value |\n| --- | --- |\n{rows}\n"
    )
    # Keep the page's introduction (everything before the first dated section) as it is.
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    intro, sep, sections = text.partition("\n## ")
    DOC.write_text(intro.rstrip("\n") + "\n" + section + (sep + sections if sep else ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=sorted(BENCHMARKS))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # The 2,000-image runs take long on this machine: run them on purpose (BENCH=scale).
    names = [args.only] if args.only else [n for n in BENCHMARKS if n not in OPT_IN]
    ensure_infra()
    figures: Figures = {}
    for name in names:
        print(f"bench {name} ...", flush=True)
        started = time.monotonic()
        figures.update(BENCHMARKS[name](args.runs))
        print(f"bench {name} done in {time.monotonic() - started:.0f} s", flush=True)
    width = max(map(len, figures))
    print("\n" + "\n".join(f"{k:<{width}}  {v:g}" for k, v in figures.items()))
    record(figures, names, args.runs)
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}, {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
