"""Small synchronous API helpers for tests that drive the running services."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from aviary_devkit.bench import review_bench
from aviary_devkit.processes import ServiceSet
from aviary_devkit.sim.scenes import generate_scene
from shared.events import ItemAccepted, TaskSubmitted
from shared.runtime import Runtime
from shared.settings import Settings

T = TypeVar("T")


class SetClock(Generic[T]):
    """A clock the test sets (`clock.now = ...`); the code under test calls it for the time."""

    def __init__(self, now: T) -> None:
        self.now = now

    def __call__(self) -> T:
        return self.now


@asynccontextmanager
async def service_runtime(service: str, settings: Settings) -> AsyncIterator[Runtime]:
    """A service's runtime (API role) for tests of its repositories, its client closed after."""
    runtime = Runtime(service, settings, "api")
    try:
        yield runtime
    finally:
        await runtime.mongo_client.close()


def bench_submitted(i: int) -> TaskSubmitted:
    """The review benchmark's `i`-th submission (one box, batch `bat_bench`)."""
    return TaskSubmitted.model_validate(review_bench.submitted(i).data)


def bench_accepted(i: int) -> ItemAccepted:
    """That submission accepted without a reviewer (review mode auto)."""
    event = bench_submitted(i)
    return ItemAccepted(
        **event.model_dump(include=set(ItemAccepted.model_fields) - {"reviewer_id"}),
        reviewer_id=None,
    )


@dataclass
class Tenant:
    org_id: str
    token: str


class Api:
    """Onboarding and calls as the operator, clients, annotators and reviewers would make."""

    def __init__(self, services: ServiceSet) -> None:
        self.services = services
        self.operator = services.settings.operator_key.get_secret_value()
        self.http = httpx.Client(timeout=30)

    def call(
        self, method: str, service: str, path: str, token: str | None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.services.url(service) + path, headers=headers, **kw)

    def ok(self, method: str, service: str, path: str, token: str | None, **kw: Any) -> Any:
        response = self.call(method, service, path, token, **kw)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def org(self, kind: str, name: str = "org") -> str:
        return str(
            self.ok("POST", "ingest", "/v1/orgs", self.operator, json={"name": name, "kind": kind})[
                "id"
            ]
        )

    def token(self, org_id: str, role: str, subject: str) -> str:
        body = {"org_id": org_id, "role": role, "subject": subject}
        return str(self.ok("POST", "ingest", "/v1/tokens", self.operator, json=body)["token"])

    def client(self) -> Tenant:
        org = self.org("client")
        return Tenant(org, self.token(org, "client", "integration"))

    def project(self, client: Tenant, vendor_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "test project",
            "ontology": {"classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]},
            "vendors": [{"vendor_id": vendor_id, "share": 1.0}],
            **fields,
        }
        return dict(self.ok("POST", "ingest", "/v1/projects", client.token, json=body))

    def batch(self, client: Tenant, project_id: str) -> str:
        path = f"/v1/projects/{project_id}/batches"
        return str(self.ok("POST", "ingest", path, client.token, json={})["id"])

    def upload(self, client: Tenant, batch_id: str, data: bytes) -> httpx.Response:
        return self.call(
            "POST",
            "ingest",
            f"/v1/batches/{batch_id}/items",
            client.token,
            content=data,
            headers={"content-type": "image/jpeg"},
        )

    def next_task(self, token: str, wait_s: float = 5) -> httpx.Response:
        return self.call("POST", "dispatch", "/v1/tasks/next", token, params={"wait_s": wait_s})

    def submit(self, token: str, task: dict[str, Any], shapes: list[Any]) -> httpx.Response:
        body = {"lease_id": task["lease_id"], "annotation": {"shapes": shapes}}
        return self.call("POST", "dispatch", f"/v1/tasks/{task['id']}/submit", token, json=body)

    def wait_for(self, fn: Any, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError("condition not met")


def jpeg(seed: int = 0) -> bytes:
    return generate_scene(seed).jpeg_bytes()


@dataclass
class Workspace:
    """A client with a one-image project routed to one vendor with two annotators."""

    client: Tenant
    vendor_id: str
    annotators: list[str]
    reviewer: str
    project: dict[str, Any]
    batch_id: str


def review_next(api: Api, token: str, path: str = "/v1/reviews/next") -> dict[str, Any]:
    """The next unit on a reviewer's desk (or appeal), once one has arrived."""

    def poll() -> dict[str, Any] | None:
        response = api.call("POST", "review", path, token)
        return dict(response.json()) if response.status_code == 200 else None

    return dict(api.wait_for(poll))


def workspace(api: Api, images: int = 1, **project_fields: Any) -> Workspace:
    client = api.client()
    vendor = api.org("vendor")
    annotators = [api.token(vendor, "annotator", f"ann-{i}") for i in range(2)]
    reviewer = api.token(vendor, "reviewer", "rev")
    project = api.project(client, vendor, **project_fields)
    batch = api.batch(client, project["id"])
    for i in range(images):
        assert api.upload(client, batch, jpeg(1000 + i)).status_code == 201
    return Workspace(client, vendor, annotators, reviewer, project, batch)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A local webhook endpoint answering with scripted status codes (then 200), optionally slow."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        import http.server
        import threading

        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        self.received: list[Received] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append(Received(dict(self.headers.items()), body))
                time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/aviary"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@asynccontextmanager
async def ingest_in_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real ingest app in this process (real Mongo, broker and storage), started, with a
    client that calls it without a socket: for tests that need other settings than the
    shared service processes have."""
    from services.ingest.main import build_app
    from shared.runtime import Runtime

    runtime = Runtime("ingest", settings)
    app = build_app(runtime)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as http,
    ):
        await asyncio.wait_for(runtime.started.wait(), 30)
        http.runtime = runtime  # type: ignore[attr-defined]
        yield http


@dataclass
class LoopbackServer:
    """A raw asyncio TCP server on 127.0.0.1 (port 0), TLS when given a context; subclasses
    answer a connection in `serve`. Connections still open at `stop` are cancelled, and a
    client going away mid-answer is not an error."""

    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


def operator_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.operator_key.get_secret_value()}"}
