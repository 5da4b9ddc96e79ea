"""A client's own model endpoint (services/assist/prelabel/endpoint.py) against a real HTTP
server started here: signed requests with a presigned image URL, timeouts, retries, the
circuit breaker opening and closing, the SSRF rules, answers refused whole."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from aviary.contracts.assist import AssistSettings, EndpointSettings
from aviary.contracts.projects import ReviewPolicy, VendorShare
from aviary.contracts.shapes import Annotation, BoxShape, Ontology, OntologyClass, ShapeSource
from aviary.contracts.webhooks import SIGNATURE_HEADER, verify_signature
from services.assist.models.catalog import ModelCatalog
from services.assist.models.files import ModelFiles, models_bucket
from services.assist.models.repository import ModelRepository
from services.assist.models.runner import ModelRunner
from services.assist.prelabel.endpoint import EndpointCaller, EndpointPolicy
from services.assist.prelabel.prelabeler import Prelabeler
from shared.events import ImageRef, ItemIngested, ProjectUpserted
from shared.security.audit import AuditLog
from shared.settings import Settings
from shared.store.mongo import ServiceDatabase, connect_mongo
from shared.store.storage import ObjectStorage

pytestmark = pytest.mark.integration

SECRET = "endpoint-secret-0123456789"
IMAGE = b"\x89PNG not really, but bytes to fetch"
ANSWER = {"shapes": [{"class_id": 1, "bbox": [10, 10, 30, 20], "confidence": 0.8}]}
LOOPBACK = (ip_network("127.0.0.1/32"),)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ModelServer:
    """A client's model: what each path answers, and every request it was sent."""

    seen: list[Seen] = field(default_factory=list)
    failures_left: int = 0  # /flaky answers 503 this many times first
    down: bool = True  # /down answers 503 while this holds

    def __post_init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                server.seen.append(Seen(self.path, dict(self.headers.items()), body))
                signature = self.headers.get(SIGNATURE_HEADER, "")
                if not verify_signature(SECRET, signature, body):
                    self.reply(401, {"error": "bad signature"})
                elif self.path == "/ok":
                    self.reply(200, ANSWER)
                elif self.path == "/slow":
                    time.sleep(1.5)
                    self.reply(200, ANSWER)
                elif self.path == "/flaky":
                    if server.failures_left > 0:
                        server.failures_left -= 1
                        self.reply(503, {})
                    else:
                        self.reply(200, ANSWER)
                elif self.path == "/down":
                    self.reply(503 if server.down else 200, {} if server.down else ANSWER)
                elif self.path == "/bad":
                    self.reply(200, {"shapes": [{"class_id": 7, "bbox": [0, 0, 5, 5]}]})
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("location", "/ok")
                    self.send_header("content-length", "0")
                    self.end_headers()
                elif self.path == "/huge":
                    self.reply(200, {"shapes": [], "padding": "x" * 200_000})
                else:
                    self.reply(404, {})

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the caller gave up (a timeout)
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_address[1]}{path}"

    def count(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[ModelServer]:
    srv = ModelServer()
    yield srv
    srv.close()


@pytest.fixture
async def item(settings: Settings) -> ItemIngested:
    storage = ObjectStorage(settings)
    await storage.ensure_bucket(settings.images_bucket)
    await storage.put_bytes(settings.images_bucket, "org_c/itm_1", IMAGE, "image/png")
    image = ImageRef(
        bucket=settings.images_bucket,
        object_key="org_c/itm_1",
        width=100,
        height=80,
        format="png",
        sha256="0" * 64,
        file_name="a.png",
    )
    return ItemIngested(
        item_id="itm_1", project_id="prj_1", batch_id="bat_1", org_id="org_c", image=image
    )


def project(url: str, secret: str | None = SECRET, timeout_s: float = 0.3) -> ProjectUpserted:
    endpoint = EndpointSettings(url=url, secret=secret, name="acme", timeout_s=timeout_s)
    return ProjectUpserted(
        project_id="prj_1",
        org_id="org_c",
        version=1,
        name="Streets",
        ontology=Ontology(classes=(OntologyClass(id=1, name="car"),)),
        overlap=1,
        vendors=(VendorShare(vendor_id="vnd_a", share=1.0),),
        review=ReviewPolicy(mode="auto"),
        reject_reasons=("missed_object",),
        piece_rate=0.05,
        assist=AssistSettings(endpoint=endpoint, min_confidence=0.5),
    )


@pytest.fixture
async def caller(settings: Settings) -> AsyncIterator[EndpointCaller]:
    policy = EndpointPolicy(
        allowed_networks=LOOPBACK,
        attempts=3,
        backoff_s=0.01,
        breaker_failures=3,
        breaker_cooldown_s=0.5,
        max_answer_bytes=100_000,
        image_url_ttl_s=120,
    )
    endpoints = EndpointCaller(ObjectStorage(settings), policy)
    yield endpoints
    await endpoints.close()


async def test_a_signed_request_brings_back_proposals_naming_the_endpoint(
    server: ModelServer, caller: EndpointCaller, item: ItemIngested, settings: Settings
) -> None:
    found = await caller.prelabel(item, project(server.url("/ok")))
    assert found.error is None and found.model == "endpoint:acme"
    (shape,) = found.annotation.shapes
    assert shape == BoxShape(
        class_id=1,
        bbox=(10, 10, 30, 20),
        source=ShapeSource(by="model", model="endpoint:acme", confidence=0.8),
    )
    assert found.confidence == 0.8
    (seen,) = server.seen
    assert verify_signature(SECRET, seen.headers[SIGNATURE_HEADER], seen.body)
    assert seen.headers["X-Aviary-Event"] == "item.prelabel"
    sent = json.loads(seen.body)
    assert {k: sent[k] for k in ("item_id", "project_id", "width", "height")} == {
        "item_id": "itm_1",
        "project_id": "prj_1",
        "width": 100,
        "height": 80,
    }
    assert sent["classes"] == [{"id": 1, "name": "car", "kind": "bbox"}]
    # The image URL is presigned, short-lived, and works without credentials.
    assert "X-Amz-Expires=120" in sent["image_url"]
    async with httpx.AsyncClient() as bare:
        assert (await bare.get(sent["image_url"])).content == IMAGE

    # Through the pre-labeler: the item with the endpoint's proposals.
    client = connect_mongo(settings)
    try:
        db = ServiceDatabase(client, settings.database_name("assist"))
        storage = ObjectStorage(settings)
        files = ModelFiles(storage, models_bucket(settings))
        catalog = ModelCatalog(ModelRepository(db, AuditLog(db, "assist")), files)
        labeled = await Prelabeler(catalog, ModelRunner(files), storage, caller).prelabel_item(
            item, project(server.url("/ok"))
        )
    finally:
        await client.close()
    assert labeled.pre_annotation == Annotation(shapes=(shape,))
    assert labeled.model == "endpoint:acme" and labeled.confidence == 0.8


async def test_slow_endpoints_time_out_and_failing_ones_are_retried(
    server: ModelServer, caller: EndpointCaller, item: ItemIngested
) -> None:
    started = time.monotonic()
    slow = await caller.prelabel(item, project(server.url("/slow"), timeout_s=0.3))
    assert slow.error is not None and slow.error.startswith("timeout")
    assert server.count("/slow") == 3  # every attempt timed out
    assert time.monotonic() - started < 2.5
    server.failures_left = 2
    flaky = await caller.prelabel(item, project(server.url("/flaky")))
    assert flaky.error is None and len(flaky.annotation.shapes) == 1
    assert server.count("/flaky") == 3
    # What another attempt cannot change is not retried.
    for path, code in (
        ("/missing", "http_status"),
        ("/redirect", "redirect"),
        ("/bad", "bad_answer"),
    ):
        found = await caller.prelabel(item, project(server.url(path)))
        assert found.error is not None and found.error.startswith(code), found.error
        assert server.count(path) == 1
    huge = await caller.prelabel(item, project(server.url("/huge")))
    assert huge.error is not None and huge.error.startswith("too_large")
    unsigned = await caller.prelabel(item, project(server.url("/ok"), secret=None))
    assert unsigned.error is not None and unsigned.error.startswith("no_secret")
    assert server.count("/ok") == 0


async def test_the_breaker_opens_on_a_dead_endpoint_and_closes_when_it_answers_again(
    server: ModelServer, caller: EndpointCaller, item: ItemIngested
) -> None:
    down = project(server.url("/down"))
    first = await caller.prelabel(item, down)
    assert first.error is not None and first.error.startswith("http_status")
    assert server.count("/down") == 3  # three failures in a row: open
    refused = await caller.prelabel(item, down)
    assert refused.error is not None and refused.error.startswith("circuit_open")
    assert server.count("/down") == 3  # not called at all
    # After the cool-down one trial goes; it fails, and the breaker opens again.
    time.sleep(0.6)
    again = await caller.prelabel(item, down)
    assert again.error is not None and again.error.startswith("circuit_open")
    assert server.count("/down") == 4
    # The endpoint recovers: the next trial closes the breaker, and calls flow.
    server.down = False
    time.sleep(0.6)
    assert (await caller.prelabel(item, down)).error is None
    assert (await caller.prelabel(item, down)).error is None
    assert server.count("/down") == 6
    # Each endpoint has its own breaker.
    assert (await caller.prelabel(item, project(server.url("/ok")))).error is None


async def test_inward_addresses_are_refused_unless_the_allow_list_has_them(
    server: ModelServer, item: ItemIngested, settings: Settings
) -> None:
    strict = EndpointCaller(ObjectStorage(settings), EndpointPolicy(allowed_networks=()))
    try:
        found = await strict.prelabel(item, project(server.url("/ok")))
        assert found.error is not None and found.error.startswith("unsafe_url")
        assert "not a public address" in found.error
        for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.1/predict"):
            refused = await strict.prelabel(item, project(url))
            assert refused.error is not None and refused.error.startswith("unsafe_url")
    finally:
        await strict.close()
    # This machine by name is refused even where its address is allowed.
    lenient = EndpointCaller(ObjectStorage(settings), EndpointPolicy(allowed_networks=LOOPBACK))
    try:
        local = await lenient.prelabel(item, project(server.url("/ok", host="localhost")))
        assert local.error is not None and local.error.startswith("unsafe_url")
    finally:
        await lenient.close()
    assert server.seen == []
