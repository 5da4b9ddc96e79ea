"""The whole backbone driven from outside, as clients, annotators and reviewers would.

`run_flow` is the main job behind `make demo`, the end-to-end tests and the e2e benchmark:
onboard a client and two vendors, push generated street scenes, label them with simulated
annotators (some wrong on purpose), review them (rejecting the wrong ones, which come back as
rework), and wait for the delivery, which is downloaded and checked against the truth.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aviary.client import packages as client_packages
from aviary.client.config import Endpoints
from aviary_devkit.sim.scenes import CLASSES, Scene, generate_scenes
from shared.domain.geometry import Box, match_boxes

CLASS_IDS = {name: i + 1 for i, name in enumerate(CLASSES)}
MATCH_IOU = 0.9


@dataclass
class FlowConfig:
    images: int = 50
    annotators_per_vendor: int = 2
    error_rate: float = 0.2  # share of first attempts that are wrong on purpose
    think_s: float = 0.0  # how long a simulated annotator works on a task before submitting
    # Dispatch replicas to spread annotators over (default: the one in the endpoints).
    dispatch_urls: tuple[str, ...] = ()
    upload_concurrency: int = 8
    seed: int = 0
    deliveries_dir: Path = Path("var/deliveries")
    timeout_s: float = 600.0


@dataclass
class FlowStats:
    uploaded: int = 0
    duplicates: int = 0
    submissions: int = 0
    wrong_submissions: int = 0
    accepted: int = 0
    rejected: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class FlowResult:
    project_id: str
    batch_id: str
    delivery_id: str
    zip_path: Path
    coco: dict[str, Any]
    manifest: dict[str, Any]
    truth: dict[str, Scene]  # item id -> the scene it was made from
    stats: FlowStats
    seconds: float


Progress = Callable[[str], None]


def truth_shapes(scene: Scene) -> list[dict[str, Any]]:
    return [{"class_id": CLASS_IDS[b.label], "bbox": [b.x, b.y, b.w, b.h]} for b in scene.boxes]


def wrong_on_purpose(scene: Scene, config: FlowConfig) -> bool:
    """Whether the first attempt at this scene is made wrong: fixed per scene and seed."""
    return random.Random(f"{config.seed}:{scene.seed}").random() < config.error_rate


def spoil(shapes: list[dict[str, Any]], rng: random.Random, width: int) -> list[dict[str, Any]]:
    """A plausible mistake: a missing object, or a box shifted half its width."""
    if len(shapes) > 1 and rng.random() < 0.5:
        return shapes[1:]
    first = dict(shapes[0])
    x, y, w, h = first["bbox"]
    first["bbox"] = [min(x + w / 2, width - w), y, w, h]
    return [first, *shapes[1:]]


def shapes_match(submitted: list[dict[str, Any]], scene: Scene) -> bool:
    def boxes(shapes: list[dict[str, Any]]) -> list[tuple[int, Box]]:
        return [(s["class_id"], tuple(s["bbox"])) for s in shapes]

    _, missing, extra = match_boxes(boxes(submitted), boxes(truth_shapes(scene)), MATCH_IOU)
    return missing == 0 and extra == 0


class Flow:
    """One run of the flow against running services."""

    def __init__(
        self,
        endpoints: Endpoints,
        operator_key: str,
        config: FlowConfig,
        progress: Progress = print,
    ) -> None:
        self.ep = endpoints
        self.operator_key = operator_key
        self.config = config
        self.progress = progress
        self.stats = FlowStats()
        self.truth: dict[str, Scene] = {}
        self._done = asyncio.Event()
        # Cleared, it holds every annotator before submitting: a fault test keeps the flow
        # alive this way until its last fault is in.
        self.may_submit = asyncio.Event()
        self.may_submit.set()
        self._http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64))

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        """One API call, retried while a service is restarting (connection refused, 503)."""
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        for attempt in range(60):
            try:
                response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError:
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
                continue
            if response.status_code != 503:
                return response
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        raise RuntimeError(f"{method} {url} kept failing")

    async def _ok(self, method: str, url: str, token: str, **kwargs: Any) -> Any:
        response = await self._call(method, url, token, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    # ----- set-up ------------------------------------------------------------------------------

    async def _token(self, org_id: str, role: str, subject: str) -> str:
        body = {"org_id": org_id, "role": role, "subject": subject}
        data = await self._ok("POST", f"{self.ep.ingest}/v1/tokens", self.operator_key, json=body)
        return str(data["token"])

    async def onboard(self) -> None:
        await self.onboard_people()
        await self.create_project()

    async def onboard_people(self) -> None:
        """A client and two vendors, each with annotators and a reviewer."""
        op, ing = self.operator_key, self.ep.ingest
        client = await self._ok(
            "POST", f"{ing}/v1/orgs", op, json={"name": "Northwind Mobility", "kind": "client"}
        )
        self.client_token = await self._token(client["id"], "client", "northwind-integration")
        self.vendors: dict[str, dict[str, Any]] = {}
        for vendor_name in ("Kestrel Labeling", "Osprey Data"):
            vendor = await self._ok(
                "POST", f"{ing}/v1/orgs", op, json={"name": vendor_name, "kind": "vendor"}
            )
            slug = vendor_name.split()[0].lower()
            annotators = [
                await self._token(vendor["id"], "annotator", f"{slug}-annotator-{i}")
                for i in range(self.config.annotators_per_vendor)
            ]
            reviewer = await self._token(vendor["id"], "reviewer", f"{slug}-reviewer")
            self.vendors[vendor["id"]] = {
                "name": vendor_name,
                "annotators": annotators,
                "reviewer": reviewer,
            }

    def project_body(self) -> dict[str, Any]:
        """The project the client creates: boxes of the scenes' four classes."""
        return {
            "name": "Street scenes",
            "ontology": {"classes": [{"id": i, "name": n} for n, i in CLASS_IDS.items()]},
            "instructions": "Draw a tight box around every car, truck, pedestrian and light.",
            "overlap": 1,
            "vendors": [{"vendor_id": v, "share": 0.5} for v in self.vendors],
            "review": {"mode": "all"},
            "reject_reasons": ["missing object", "loose box", "wrong class"],
            "piece_rate": 0.04,
            "delivery_formats": ["coco", "yolo", "voc", "jsonl"],
        }

    async def create_project(self) -> None:
        ing = self.ep.ingest
        project = await self._ok(
            "POST", f"{ing}/v1/projects", self.client_token, json=self.project_body()
        )
        self.project_id: str = project["id"]
        batch = await self._ok(
            "POST",
            f"{ing}/v1/projects/{self.project_id}/batches",
            self.client_token,
            json={"name": "demo batch"},
        )
        self.batch_id: str = batch["id"]

    # ----- ingest ------------------------------------------------------------------------------

    async def upload(
        self, route: str, data: bytes, file_name: str, content_type: str
    ) -> dict[str, Any]:
        """One file as the raw body of `/v1/batches/{batch}/<route>`; the item."""
        return dict(
            await self._ok(
                "POST",
                f"{self.ep.ingest}/v1/batches/{self.batch_id}/{route}",
                self.client_token,
                content=data,
                params={"file_name": file_name},
                headers={"content-type": content_type},
            )
        )

    async def push(self) -> None:
        scenes = generate_scenes(self.config.images, first_seed=self.config.seed)
        limiter = asyncio.Semaphore(self.config.upload_concurrency)

        async def upload(scene: Scene) -> None:
            async with limiter:
                data = await asyncio.to_thread(scene.jpeg_bytes)
                name = f"street_{scene.seed:05d}.jpg"
                item = await self.upload("items", data, name, "image/jpeg")
                self.truth[item["id"]] = scene
                self.stats.uploaded += 1
                self.stats.duplicates += bool(item["duplicate"])
                if self.stats.uploaded % 10 == 0 or self.stats.uploaded == len(scenes):
                    self.progress(f"[ingest]   {self.stats.uploaded}/{len(scenes)} images pushed")

        await asyncio.gather(*(upload(s) for s in scenes))
        await self._ok(
            "POST", f"{self.ep.ingest}/v1/batches/{self.batch_id}/seal", self.client_token
        )

    # ----- labeling and review -----------------------------------------------------------------

    async def _next_work(self, url: str, token: str) -> dict[str, Any] | None:
        """A long-poll for the next task or review (1 s, so the loops see `_done` soon)."""
        response = await self._call("POST", url, token, params={"wait_s": 1})
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise RuntimeError(f"{url} -> {response.status_code}: {response.text}")
        return dict(response.json())

    def work(self, task: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """What the simulated annotator submits for a task, and whether it is wrong on
        purpose: the scene's boxes (spoiled on a first attempt the seed picks)."""
        scene = self.truth[task["item_id"]]
        shapes = truth_shapes(scene)
        wrong = task["rework"] == 0 and wrong_on_purpose(scene, self.config)
        if wrong:
            shapes = spoil(shapes, random.Random(scene.seed), scene.width)
        return {"annotation": {"shapes": shapes}}, wrong

    async def prepare(self, task: dict[str, Any], token: str) -> tuple[dict[str, Any], bool]:
        """The submission's body, as `work` makes it (a subclass may ask services for help,
        as the annotator whose `token` it is)."""
        return self.work(task)

    def judge(self, review: dict[str, Any]) -> dict[str, str] | None:
        """The simulated reviewer's rejection (reason and comment), or None to accept."""
        scene = self.truth[review["item_id"]]
        shapes = review["annotation"]["shapes"]
        if shapes_match(shapes, scene):
            return None
        return {
            "reason": "missing object" if len(shapes) < len(scene.boxes) else "loose box",
            "comment": "Please check every object and fit each box tightly.",
        }

    async def annotator(self, token: str, dispatch: str | None = None) -> None:
        dispatch = dispatch or self.ep.dispatch
        while not self._done.is_set():
            task = await self._next_work(f"{dispatch}/v1/tasks/next", token)
            if task is None:
                continue
            body, wrong = await self.prepare(task, token)
            if self.config.think_s:
                await asyncio.sleep(self.config.think_s)
            await self.may_submit.wait()
            submitted = await self._call(
                "POST",
                f"{dispatch}/v1/tasks/{task['id']}/submit",
                token,
                json={"lease_id": task["lease_id"], **body},
            )
            if submitted.status_code == 200:
                self.stats.submissions += 1
                self.stats.wrong_submissions += wrong
            elif submitted.status_code != 409:  # 409: lease lost; the task is someone else's
                raise RuntimeError(f"submit -> {submitted.status_code}: {submitted.text}")

    async def reviewer(self, token: str) -> None:
        while not self._done.is_set():
            review = await self._next_work(f"{self.ep.review}/v1/reviews/next", token)
            if review is None:
                continue
            url = f"{self.ep.review}/v1/reviews/{review['id']}"
            rejection = self.judge(review)
            if rejection is None:
                decided = await self._call("POST", f"{url}/accept", token)
                self.stats.accepted += decided.status_code == 200
            else:
                decided = await self._call("POST", f"{url}/reject", token, json=rejection)
                self.stats.rejected += decided.status_code == 200
            if decided.status_code not in (200, 409):
                raise RuntimeError(f"decision -> {decided.status_code}: {decided.text}")

    async def wait_for_delivery(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.config.timeout_s
        last = ""
        while time.monotonic() < deadline:
            batch = await self._ok(
                "GET", f"{self.ep.ingest}/v1/batches/{self.batch_id}", self.client_token
            )
            line = (
                f"[labeling] {batch['progress']['accepted']}/{batch['item_count']} accepted,"
                f" {self.stats.submissions} submissions, {self.stats.rejected} rejected"
            )
            if line != last:
                self.progress(line)
                last = line
            deliveries = await self._ok(
                "GET",
                f"{self.ep.export}/v1/deliveries",
                self.client_token,
                params={"project_id": self.project_id},
            )
            ready = [
                d
                for d in deliveries
                if d["kind"] == "full" and d["status"] == "ready" and d["batch_id"] == self.batch_id
            ]
            if ready:
                return dict(ready[0])
            await asyncio.sleep(0.5)
        raise TimeoutError("no delivery within the time limit")

    async def download(
        self, delivery: dict[str, Any]
    ) -> tuple[Path, dict[str, Any], dict[str, Any]]:
        detail = await self._ok(
            "GET", f"{self.ep.export}/v1/deliveries/{delivery['id']}", self.client_token
        )
        response = await self._http.get(detail["download_url"])
        response.raise_for_status()
        data = response.content
        if hashlib.sha256(data).hexdigest() != detail["sha256"]:
            raise RuntimeError("the downloaded delivery does not match its sha256")
        self.config.deliveries_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.deliveries_dir / f"{delivery['id']}.zip"
        path.write_bytes(data)
        manifest, coco = verify_package(data)
        return path, manifest, coco

    async def run(self) -> FlowResult:
        started = time.monotonic()
        await self.onboard()
        stage = time.monotonic()
        await self.push()
        self.stats.stage_seconds["ingest"] = time.monotonic() - stage
        stage = time.monotonic()
        tokens = [token for v in self.vendors.values() for token in v["annotators"]]
        urls = self.config.dispatch_urls or (self.ep.dispatch,)
        workers = [
            asyncio.create_task(self.annotator(token, urls[i % len(urls)]))
            for i, token in enumerate(tokens)
        ]
        workers += [
            asyncio.create_task(self.reviewer(v["reviewer"])) for v in self.vendors.values()
        ]
        try:
            delivery = await self.wait_for_delivery()
        finally:
            self._done.set()
            results = await asyncio.gather(*workers, return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]
        self.stats.stage_seconds["label_review_deliver"] = time.monotonic() - stage
        stage = time.monotonic()
        path, manifest, coco = await self.download(delivery)
        self.stats.stage_seconds["download_verify"] = time.monotonic() - stage
        return FlowResult(
            project_id=self.project_id,
            batch_id=self.batch_id,
            delivery_id=delivery["id"],
            zip_path=path,
            coco=coco,
            manifest=manifest,
            truth=self.truth,
            stats=self.stats,
            seconds=time.monotonic() - started,
        )


def verify_package(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check every file of a delivery zip against its manifest; return (manifest, coco), the
    COCO empty where the package has none (a speech delivery)."""
    manifest = client_packages.verify_package(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if "coco/annotations.json" not in zf.namelist():
            return manifest, {}
        coco = json.loads(zf.read("coco/annotations.json"))
    return manifest, coco


async def run_flow(
    endpoints: Endpoints, operator_key: str, config: FlowConfig, progress: Progress = print
) -> FlowResult:
    flow = Flow(endpoints, operator_key, config, progress)
    try:
        return await flow.run()
    finally:
        await flow.close()
