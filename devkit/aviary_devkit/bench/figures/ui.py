"""`ui`: the browser pages as people use them, in Debian's Chromium (headless, Playwright).

`ui_first_project_s`: a client opens the dashboard, makes a project with an ontology of 5
classes (a box with an attribute, a polygon, a line, a skeleton, a whole-image class), starts a
batch, uploads 50 street scenes and seals it; then an annotator of the project's vendor opens
the labeling page and presses Next task until the first task's picture shows. Wall time from
opening the dashboard to that picture, typing and clicking at a script's pace (no think time).
Goal: 60 s or less, the uploads included.

`ui_label_page_ms`: the labeling page ready with a task of 300 shapes (boxes, the client's
pre-annotation): from Next task to the picture drawn with every shape, 95th percentile over
`LABEL_LOADS` tasks, each on a page of its own. Goal: 800 ms or less.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, async_playwright

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from aviary_devkit.sim.scenes import generate_scene

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IMAGES = 50
LABEL_SHAPES = 300
LABEL_LOADS = 10
CLASSES = [
    ("car", "bbox", "", "occluded:boolean"),
    ("drivable area", "polygon", "", ""),
    ("lane", "polyline", "", ""),
    ("pedestrian", "keypoints", "head, hip, foot", ""),
    ("night", "classification", "", ""),
]
SERVICES = ("ingest", "dispatch", "review", "export")


def bench_ui(runs: int) -> Figures:
    settings = isolated_settings()
    with tempfile.TemporaryDirectory(prefix="aviary-ui-bench-") as tmp:
        folder = Path(tmp)
        pictures = []
        for i in range(IMAGES):
            path = folder / f"street-{i:03d}.jpg"
            path.write_bytes(generate_scene(9000 + i).jpeg_bytes())
            pictures.append(path)
        services = ServiceSet(settings, folder / "logs", port_offset=20_000)
        try:
            for name in SERVICES:
                services.start(name)
            for name in SERVICES:
                services.wait_ready(name)
            return asyncio.run(_measure(services, pictures, runs))
        finally:
            services.stop_all()
            asyncio.run(cleanup_namespace(settings))


async def _measure(services: ServiceSet, pictures: list[Path], runs: int) -> Figures:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            firsts = []
            for run in range(runs):
                seconds = await first_project(browser, services, pictures, run)
                print(f"  ui run {run + 1}/{runs}: first project {seconds:.1f} s", flush=True)
                firsts.append(seconds)
            loads = await label_loads(browser, services)
            p95 = statistics.quantiles(loads, n=20)[18]
            print(
                f"  ui label page with {LABEL_SHAPES} shapes: p50 {statistics.median(loads):.0f}"
                f" ms, p95 {p95:.0f} ms over {len(loads)} loads",
                flush=True,
            )
        finally:
            await browser.close()
    return {
        "ui_first_project_s": round(statistics.median(firsts), 1),
        "ui_label_page_ms": round(p95, 1),
    }


def tenant(services: ServiceSet, name: str) -> tuple[str, str, str]:
    """A client and a vendor with one annotator: (client token, vendor id, annotator token)."""
    op = {"Authorization": f"Bearer {services.settings.operator_key.get_secret_value()}"}
    with httpx.Client(base_url=services.url("ingest"), headers=op, timeout=30) as http:
        client = http.post("/v1/orgs", json={"name": name, "kind": "client"}).json()["id"]
        vendor = http.post("/v1/orgs", json={"name": f"{name} labels", "kind": "vendor"}).json()[
            "id"
        ]

        def token(org: str, role: str, subject: str) -> str:
            body = {"org_id": org, "role": role, "subject": subject}
            return str(http.post("/v1/tokens", json=body).json()["token"])

        return token(client, "client", "ops"), vendor, token(vendor, "annotator", "ann")


async def signed_in(browser: Browser, url: str, token: str) -> Page:
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await page.goto(url)
    await page.fill("#token", token)
    await page.click("#login button[type=submit]")
    return page


async def first_project(
    browser: Browser, services: ServiceSet, pictures: list[Path], run: int
) -> float:
    client, vendor, annotator = await asyncio.to_thread(tenant, services, f"first-{run}")
    started = time.monotonic()
    page = await signed_in(browser, f"{services.url('export')}/ui/dashboard.html", client)
    await page.click("#new-project summary")
    await page.fill("#project-name", f"Streets {run}")
    rows = page.locator("#class-rows tbody tr")
    for i, (name, kind, keypoints, attributes) in enumerate(CLASSES):
        if i:
            await page.click("#add-class")
        row = rows.nth(i)
        await row.locator("input[aria-label='class name']").fill(name)
        await row.locator("select[aria-label=kind]").select_option(kind)
        await row.locator("input[aria-label=keypoints]").fill(keypoints)
        await row.locator("input[aria-label=attributes]").fill(attributes)
    await page.select_option("#vendor-rows select[aria-label=vendor]", vendor)
    await page.fill("#project-instructions", "Box every car; outline the road; mark the lanes.")
    await page.click("#project-form button[type=submit]")
    await page.get_by_text(f"Project Streets {run} created").wait_for()
    await page.locator("#upload-project option", has_text=f"Streets {run}").wait_for(
        state="attached"
    )
    await page.select_option("#upload-project", label=f"Streets {run}")
    await page.fill("#upload-batch-name", "first batch")
    await page.click("#upload-form button[type=submit]")
    await page.locator("#upload-box").wait_for()
    await page.set_input_files("#upload-files", [str(p) for p in pictures])
    done = f"{len(pictures)} of {len(pictures)}"
    await page.wait_for_function(
        f"() => document.getElementById('upload-count').textContent.startsWith('{done}')",
        timeout=120_000,
    )
    await page.click("#upload-seal")
    await page.get_by_text("Batch sealed").wait_for()
    await page.close()
    label = await signed_in(browser, f"{services.url('dispatch')}/ui/label.html", annotator)
    await open_task(label)
    seconds = time.monotonic() - started
    await label.close()
    return seconds


async def open_task(page: Page) -> None:
    """Next task until one opens (the first tasks may still be on their way)."""
    deadline = time.monotonic() + 60
    while not await page.is_visible("#task-box"):
        if time.monotonic() > deadline:
            raise TimeoutError("no task opened")
        if await page.is_enabled("#next"):
            await page.click("#next")
        await asyncio.sleep(0.1)
    await page.wait_for_function("() => window.aviaryCanvas?.image")


def shapes_tasks(services: ServiceSet) -> str:
    """`LABEL_LOADS` pictures of a project, each with `LABEL_SHAPES` boxes as the client's
    pre-annotation; returns the token of the vendor's annotator."""
    client, vendor, annotator = tenant(services, "shapes")
    boxes = [
        {"class_id": 1, "bbox": [10 + (i % 30) * 40, 10 + (i // 30) * 60, 30, 40]}
        for i in range(LABEL_SHAPES)
    ]
    auth = {"Authorization": f"Bearer {client}"}
    with httpx.Client(base_url=services.url("ingest"), headers=auth, timeout=60) as http:
        body = {
            "name": "many shapes",
            "ontology": {"classes": [{"id": 1, "name": "car"}]},
            "vendors": [{"vendor_id": vendor, "share": 1.0}],
        }
        project = http.post("/v1/projects", json=body).json()["id"]
        batch = http.post(f"/v1/projects/{project}/batches", json={}).json()["id"]
        for i in range(LABEL_LOADS):
            answer = http.post(
                f"/v1/batches/{batch}/items",
                content=generate_scene(9500 + i, width=1280, height=720).jpeg_bytes(),
                headers={
                    "content-type": "image/jpeg",
                    "x-pre-annotation": json.dumps({"shapes": boxes}),
                },
            )
            answer.raise_for_status()
    return annotator


async def label_loads(browser: Browser, services: ServiceSet) -> list[float]:
    """The labeling page opening tasks of `LABEL_SHAPES` boxes each, one page a task."""
    annotator = await asyncio.to_thread(shapes_tasks, services)
    loads = []
    for _ in range(LABEL_LOADS):
        page = await signed_in(browser, f"{services.url('dispatch')}/ui/label.html", annotator)
        await page.wait_for_function("() => window.aviaryCanvas !== undefined")
        await page.wait_for_selector("#next:not([disabled])")
        started = time.monotonic()
        await page.click("#next")
        await page.wait_for_function(
            f"() => window.aviaryCanvas?.image"
            f" && window.aviaryCanvas.shapes.length === {LABEL_SHAPES}",
            timeout=30_000,
        )
        loads.append((time.monotonic() - started) * 1000)
        await page.close()
    return loads
