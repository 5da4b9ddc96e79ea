"""`dashboard`: the operator's dashboard with a week of figures, and what keeping them costs.

`dashboard_load_ms`: four services, each with a week of per-minute rollups (10,080 minutes,
written into their databases as the services write them) and 20 projects with a batch each;
the operator opens the dashboard on its week view (`?range=168`) in Chromium: from the page's
request to every chart drawn (the seven canvases) and said (the stages' sentence), 95th
percentile over `LOADS` loads. Goal: 1,000 ms or less.

`dashboard_rollup_cpu_ms_per_min`: the CPU a minute of rollups costs the platform, the process
that reads its registry and the database that takes the write both counted (/proc), with the
registry of a busy service (every route, status and event type of the platform labelled) and
events counted at 100 a second meanwhile: the CPU of a tick, times the ticks in a minute
(`rollup_interval_s`), times the five services. Goal: 50 CPU-ms or less.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from aviary_devkit.bench.cpu import cpu_seconds, listener_pids
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.bench.figures.ui import CHROMIUM, FLAGS, signed_in
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from shared.events import RoutingKey
from shared.observability import (
    EVENTS_CONSUMED,
    EVENTS_PUBLISHED,
    HTTP_LATENCY,
    SERVICE_LATENCY,
)
from shared.rollups import COLLECTION, QUARTER, QUARTERS, STAGES, Rollups, minute_of, span
from shared.settings import Settings
from shared.store.mongo import ServiceDatabase, connect_mongo, utcnow

SERVICES = ("ingest", "dispatch", "review", "export")
RECORDING = (*SERVICES, "assist")  # every service keeps rollups: one process each
WEEK_MINUTES = 7 * 24 * 60
PROJECTS = 20
LOADS = 10
TICKS = 200
EVENTS_PER_S = 100


def bench_dashboard(runs: int) -> Figures:
    settings = isolated_settings()
    with tempfile.TemporaryDirectory(prefix="aviary-dashboard-bench-") as tmp:
        services = ServiceSet(settings, Path(tmp) / "logs", port_offset=21_000)
        try:
            for name in SERVICES:
                services.start(name)
            for name in SERVICES:
                services.wait_ready(name)
            asyncio.run(seed_week(settings))
            seed_projects(services)
            loads = asyncio.run(page_loads(services, max(LOADS, runs)))
            cost = asyncio.run(rollup_cost(settings))
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))
    p95 = statistics.quantiles(loads, n=20)[18]
    print(
        f"  dashboard week view: p50 {statistics.median(loads):.0f} ms, p95 {p95:.0f} ms over"
        f" {len(loads)} loads; rollups {cost:.1f} CPU-ms a minute",
        flush=True,
    )
    return {"dashboard_load_ms": round(p95, 1), "dashboard_rollup_cpu_ms_per_min": round(cost, 1)}


async def seed_week(settings: Settings) -> None:
    """A week of minutes for each service, as one process of each would have written them."""
    client = connect_mongo(settings)
    now = minute_of(utcnow())
    rng = random.Random(7)  # made-up figures
    try:
        for service in SERVICES:
            docs = []
            for m in range(WEEK_MINUTES):
                minute = now - timedelta(minutes=m)
                requests = rng.randint(200, 2000)
                buckets = {f"b{i}": int(requests * min(1.0, 0.3 + 0.12 * i)) for i in range(11)}
                stages = {f"stage_{s}": rng.randint(0, 300) for s in STAGES.values()}
                docs.append(
                    {
                        "_id": f"{minute.isoformat()}|bench:1",
                        "minute": minute,
                        "process": "bench:1",
                        "events": rng.randint(500, 6000),
                        "requests": requests,
                        **buckets,
                        **stages,
                        "queue": rng.randint(0, 50),
                        "dead_letters": 0,
                        "outbox": rng.randint(0, 5),
                    }
                )
            db = ServiceDatabase(client, settings.database_name(service))
            for start in range(0, len(docs), 2000):
                await db[COLLECTION].insert_many(docs[start : start + 2000])
            await db[QUARTERS].insert_many(quarters_of(docs))
    finally:
        await client.close()


def quarters_of(docs: list[dict[str, object]]) -> list[dict[str, object]]:
    """The minutes' documents summed by quarter hour, as the services write them beside."""
    by_quarter: dict[str, dict[str, object]] = {}
    for doc in docs:
        start = span(doc["minute"], QUARTER)  # type: ignore[arg-type]
        quarter = by_quarter.setdefault(
            start.isoformat(), {"_id": f"{start.isoformat()}|bench:1", "minute": start}
        )
        for key, value in doc.items():
            if isinstance(value, int) and key not in ("queue", "dead_letters", "outbox"):
                quarter[key] = int(quarter.get(key, 0)) + value  # type: ignore[call-overload]
            elif isinstance(value, int):
                quarter[key] = max(int(quarter.get(key, 0)), value)  # type: ignore[call-overload]
    return list(by_quarter.values())


def seed_projects(services: ServiceSet) -> None:
    op = {"Authorization": f"Bearer {services.settings.operator_key.get_secret_value()}"}
    with httpx.Client(base_url=services.url("ingest"), headers=op, timeout=30) as http:
        client = http.post("/v1/orgs", json={"name": "Northwind", "kind": "client"}).json()["id"]
        vendor = http.post("/v1/orgs", json={"name": "Lark", "kind": "vendor"}).json()["id"]
        body = {"org_id": client, "role": "client", "subject": "ops"}
        token = http.post("/v1/tokens", json=body).json()["token"]
        as_client = {"Authorization": f"Bearer {token}"}
        for i in range(PROJECTS):
            project = {
                "name": f"Streets {i}",
                "ontology": {"classes": [{"id": 1, "name": "car"}]},
                "vendors": [{"vendor_id": vendor, "share": 1}],
            }
            made = http.post("/v1/projects", json=project, headers=as_client).json()
            http.post(f"/v1/projects/{made['id']}/batches", json={}, headers=as_client)


async def page_loads(services: ServiceSet, loads: int) -> list[float]:
    url = f"{services.url('export')}/ui/dashboard.html?range=168"
    operator = services.settings.operator_key.get_secret_value()
    drawn = (
        "() => document.querySelectorAll('#charts canvas').length === 7 &&"
        " !!document.querySelector('#charts p[data-chart=stages]')"
    )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = await signed_in(browser, url, operator)  # the token kept for the loads
            await page.wait_for_function(drawn, timeout=60_000)
            times = []
            for _ in range(loads):
                started = time.monotonic()
                await page.goto(url)
                await page.wait_for_function(drawn, timeout=60_000)
                times.append((time.monotonic() - started) * 1000)
            return times
        finally:
            await browser.close()


async def rollup_cost(settings: Settings) -> float:
    """CPU-ms a minute of rollups costs the five services (process and database)."""
    for kind in RoutingKey:  # a busy registry: every label the platform uses
        EVENTS_CONSUMED.labels("review", kind.value, "ok").inc(0)
        EVENTS_PUBLISHED.labels("review", kind.value).inc(0)
    for route in range(40):
        for status in ("200", "201", "404", "422"):
            HTTP_LATENCY.labels("review", "GET", f"/v1/route{route}", status).observe(0.01)
            SERVICE_LATENCY.labels("review").observe(0.01)
    client = connect_mongo(settings)
    rollups = Rollups(ServiceDatabase(client, settings.database_name("review")), "review")
    database = listener_pids(27017)
    try:
        interval = settings.rollup_interval_s
        spent = 0.0
        for _ in range(TICKS):
            for _ in range(int(EVENTS_PER_S * interval)):  # what a tick's interval brings
                EVENTS_CONSUMED.labels("review", "task.submitted", "ok").inc()
            cpu, db = time.process_time(), sum(cpu_seconds(p) for p in database)
            await rollups.tick()
            spent += time.process_time() - cpu + sum(cpu_seconds(p) for p in database) - db
    finally:
        await client.close()
    return spent / TICKS * (60 / interval) * 1000 * len(RECORDING)
