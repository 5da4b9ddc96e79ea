"""`privacy`: deleting a large project everywhere, and redacting pictures.

`delete_project_10k_s`: a project of 10,000 items with their annotations and two deliveries,
deleted by its client (`DELETE /v1/projects/{id}`) until its certificate says every service
has removed its part; then a scan of every database and bucket of the namespace
(aviary_devkit/privacy_scan.py) must find nothing that names a deleted id or holds deleted
content, or the benchmark fails. Goal: 60 s or less.

How the 10,000 are made: `TEMPLATE` items go through the running services as a client and
annotators would (pushed, labeled, accepted, delivered twice); then every record any service
keeps about those items (tasks, leases and their ends, submissions, accepted annotations,
assist's item records, ingest's items) is copied `COPIES` times with new ids, and each item's
stored picture with it, straight into the databases and the bucket. Pushing and labeling
10,000 items through the flow would take this machine most of an hour; the deletion reads
and removes the same records either way.

`redact_images_per_s`: 1280x720 street pictures pushed into a project that blurs faces and
plates for everyone (the original not kept), one picture a request from four clients at
once, through one ingest process: pictures stored a second. Beside it the same push into a
project that does not redact (`_plain_ingest`), and the redaction's own pace in one process
without a service (`_module`, redaction_speed.py). Goal: 20 or more.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from aviary_devkit.bench.figures.redaction_speed import measure_redaction
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.privacy_scan import NOT_SEARCHED, records, scan, tokens
from aviary_devkit.processes import ROOT, ServiceSet, cleanup_namespace, isolated_settings
from aviary_devkit.sim.scenes import generate_scene
from shared.settings import SERVICE_PORTS, Settings
from shared.store.mongo import Doc, connect_mongo
from shared.store.storage import ObjectStorage

ITEMS = int(os.environ.get("AVIARY_PRIVACY_ITEMS", 10_000))  # fewer, to try it out
TEMPLATE = 20
COPIES = ITEMS // TEMPLATE - 1  # the template's items are the first of the 10,000
# Ids a copy gets anew: items, tasks, submissions, task groups, disputes, uploads; and the
# pictures' SHA-256 (64 hex digits). Projects, batches, people and vendors stay.
RENAMED = re.compile(r"\b(?:itm|tsk|sub|grp|cns|upl)_[0-9a-f]+\b|\b[0-9a-f]{64}\b")
NOT_COPIED = NOT_SEARCHED | {"outbox", "idempotency_keys", "revoked_tokens", "rollups"}
BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def bench_privacy(runs: int) -> Figures:
    measured = [delete_once(run) for run in range(runs)]
    module = measure_redaction(images=60, runs=runs)["redact_images_per_s"]
    return {
        "delete_project_10k_s": round(statistics.median(m[0] for m in measured), 2),
        "redact_images_per_s": round(statistics.median(m[1] for m in measured), 1),
        "redact_images_per_s_plain_ingest": round(statistics.median(m[2] for m in measured), 1),
        "redact_images_per_s_module": module,
    }


def delete_once(run: int) -> tuple[float, float, float]:
    """(seconds to delete the 10,000-item project, pictures redacted a second at ingest,
    pictures a second through the same ingest without redaction)."""
    settings = isolated_settings()
    logs = ROOT / "var" / "bench" / "privacy-logs"  # kept: what each service did, if it fails
    shutil.rmtree(logs, ignore_errors=True)
    services = ServiceSet(settings, logs, port_offset=22_000)
    try:
        services.start_all()
        for name in SERVICE_PORTS:
            services.wait_ready(name)
        with httpx.Client(timeout=60) as http:
            redacting = ingest_pace(Template(services, http), "everyone")
            plain = ingest_pace(Template(services, http), "off")
            print(f"  run {run}: ingest {redacting:.1f} pictures/s redacted, {plain:.1f} plain")
            made = Template(services, http).make(run)
            started = time.monotonic()
            ids, hashes = asyncio.run(copy_records(settings, made))
            print(f"  run {run}: {len(hashes)} items made in {time.monotonic() - started:.0f} s")
            took = made.delete()
        findings = asyncio.run(scan(settings, ids, hashes))
        if findings:
            raise AssertionError(f"{len(findings)} left after the deletion: {findings[:5]}")
        print(f"  run {run}: deleted everywhere in {took:.1f} s; the scan found nothing")
        return took, redacting, plain
    finally:
        services.stop_all()
        asyncio.run(cleanup_namespace(settings))


INGEST_PICTURES = 60
PUSHERS = 4  # clients pushing at once


def ingest_pace(template: Template, mode: str) -> float:
    """1280x720 street pictures pushed one a request by `PUSHERS` clients at once into a
    project that redacts them (`mode`), through ingest: pictures stored a second."""
    org = template.org("Northwind", "client")
    vendor = template.org("Lark", "vendor")
    client = template.token(org, "client", "northwind")
    body = {
        "name": "Streets",
        "ontology": {"classes": [{"id": 1, "name": "car"}]},
        "vendors": [{"vendor_id": vendor, "share": 1.0}],
        "privacy": {"redaction": {"mode": mode, "keep_original": False}},
    }
    project = template.call("POST", "ingest", "/v1/projects", client, json=body)["id"]
    batch = template.call("POST", "ingest", f"/v1/projects/{project}/batches", client, json={})
    path = f"/v1/batches/{batch['id']}/items"
    pictures = [
        generate_scene(80_000 + n, 1280, 720).jpeg_bytes(90) for n in range(INGEST_PICTURES)
    ]

    def push(picture: bytes) -> None:
        headers = {"content-type": "image/jpeg"}
        template.call("POST", "ingest", path, client, content=picture, headers=headers)

    started = time.monotonic()
    with ThreadPoolExecutor(PUSHERS) as pool:
        list(pool.map(push, pictures))
    return INGEST_PICTURES / (time.monotonic() - started)


class Template:
    """`TEMPLATE` items through the flow, as a client and its annotators drive it."""

    def __init__(self, services: ServiceSet, http: httpx.Client) -> None:
        self.services = services
        self.http = http
        self.operator = services.settings.operator_key.get_secret_value()
        self.project_id = ""
        self.batch_id = ""
        self.client = ""

    def call(self, method: str, service: str, path: str, token: str, **kw: Any) -> Any:
        url = self.services.url(service) + path
        response = self.http.request(
            method, url, headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})}, **kw
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def org(self, name: str, kind: str) -> str:
        body = {"name": name, "kind": kind}
        return str(self.call("POST", "ingest", "/v1/orgs", self.operator, json=body)["id"])

    def token(self, org: str, role: str, subject: str) -> str:
        body = {"org_id": org, "role": role, "subject": subject}
        return str(self.call("POST", "ingest", "/v1/tokens", self.operator, json=body)["token"])

    def make(self, run: int) -> Template:
        org = self.call(
            "POST",
            "ingest",
            "/v1/orgs",
            self.operator,
            json={"name": "Northwind", "kind": "client"},
        )["id"]
        vendor = self.call(
            "POST", "ingest", "/v1/orgs", self.operator, json={"name": "Lark", "kind": "vendor"}
        )["id"]
        self.client = self.token(org, "client", "northwind")
        annotator = self.token(vendor, "annotator", "ann-0")
        project = {
            "name": "Streets",
            "ontology": {"classes": [{"id": 1, "name": "car"}]},
            "vendors": [{"vendor_id": vendor, "share": 1.0}],
            "review": {"mode": "auto"},
            "delivery_formats": ["coco", "jsonl"],
            "include_images": True,
        }
        self.project_id = self.call("POST", "ingest", "/v1/projects", self.client, json=project)[
            "id"
        ]
        path = f"/v1/projects/{self.project_id}/batches"
        self.batch_id = self.call("POST", "ingest", path, self.client, json={})["id"]
        for n in range(TEMPLATE):
            picture = generate_scene(90_000 + run * 1000 + n, 320, 240).jpeg_bytes()
            self.call(
                "POST",
                "ingest",
                f"/v1/batches/{self.batch_id}/items",
                self.client,
                content=picture,
                headers={"content-type": "image/jpeg"},
            )
        for _ in range(TEMPLATE):
            task = self.call("POST", "dispatch", "/v1/tasks/next", annotator, params={"wait_s": 10})
            body = {"lease_id": task["lease_id"], "annotation": {"shapes": [BOX]}}
            self.call("POST", "dispatch", f"/v1/tasks/{task['id']}/submit", annotator, json=body)
        self.call("POST", "ingest", f"/v1/batches/{self.batch_id}/seal", self.client)
        self.wait(lambda: len(self.ready()) >= 1)
        path = f"/v1/batches/{self.batch_id}/deliveries"
        self.call("POST", "export", path, self.client, json={"kind": "partial"})
        self.wait(lambda: len(self.ready()) >= 2)
        return self

    def ready(self) -> list[dict[str, Any]]:
        listed = self.call(
            "GET", "export", "/v1/deliveries", self.client, params={"project_id": self.project_id}
        )
        return [d for d in listed if d["status"] == "ready"]

    def items(self) -> list[dict[str, Any]]:
        path = f"/v1/batches/{self.batch_id}/items"
        return list(self.call("GET", "ingest", path, self.client, params={"limit": 500})["items"])

    def delete(self) -> float:
        """The client deletes the project; seconds until its certificate."""
        started = time.monotonic()
        deletion = self.call("DELETE", "ingest", f"/v1/projects/{self.project_id}", self.client)
        path = f"/v1/deletions/{deletion['id']}"
        self.wait(
            lambda: self.call("GET", "ingest", path, self.client)["status"] == "complete", 600
        )
        took = time.monotonic() - started
        cert = self.call("GET", "ingest", path, self.client)["certificate"]
        asked = datetime.fromisoformat(cert["requested_at"])
        print(
            "  each service's part done after (s): "
            + ", ".join(
                f"{name} {(datetime.fromisoformat(r['applied_at']) - asked).total_seconds():.1f}"
                for name, r in cert["services"].items()
            ),
            flush=True,
        )
        return took

    @staticmethod
    def wait(condition: Callable[[], bool], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the flow did not get there")
            time.sleep(0.1)


def renamer(copy: int) -> Callable[[str], str]:
    def rename(match: re.Match[str]) -> str:
        found = match.group(0)
        if len(found) == 64:
            return hashlib.sha256(f"{found}:{copy}".encode()).hexdigest()
        return f"{found}{copy:04x}"

    def apply(text: str) -> str:
        return RENAMED.sub(rename, text)

    return apply


def renamed(value: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return rename(value)
    if isinstance(value, dict):
        return {rename(k): renamed(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v, rename) for v in value]
    return value


async def copy_records(settings: Settings, made: Template) -> tuple[set[str], set[str]]:
    """Every record naming a template item, `COPIES` times; each item's picture too. Returns
    the ids and SHA-256 of all 10,000 items."""
    template = made.items()
    item_ids = {i["id"] for i in template}
    naming: dict[tuple[str, str], list[Doc]] = {}
    async for database, collection, doc in records(settings, NOT_COPIED):
        if tokens(repr(doc)) & item_ids:
            naming.setdefault((database, collection), []).append(doc)
    client = connect_mongo(settings)
    try:
        for (database, collection), docs in naming.items():
            copies = [renamed(d, renamer(k)) for k in range(1, COPIES + 1) for d in docs]
            for start in range(0, len(copies), 2000):
                chunk = copies[start : start + 2000]
                await client[database][collection].insert_many(chunk, ordered=False)
    finally:
        await client.close()
    storage = ObjectStorage(settings)
    bucket = settings.images_bucket
    keys = [
        k for k in await storage.list_keys(bucket, "") if any(i["sha256"] in k for i in template)
    ]
    originals = {k: await storage.get_bytes(bucket, k) for k in keys}

    def put(copy: int) -> None:
        rename = renamer(copy)
        for key, data in originals.items():
            asyncio.run(storage.put_bytes(bucket, rename(key), data))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(1, COPIES + 1)))
    ids = {made.project_id, made.batch_id} | item_ids
    hashes = {i["sha256"] for i in template}
    for k in range(1, COPIES + 1):
        rename = renamer(k)
        ids |= {rename(i) for i in item_ids}
        hashes |= {rename(h) for h in {i["sha256"] for i in template}}
    return ids, hashes
