"""Idempotency keys against the real SecantusDB, with a tiny app driven in-process."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.settings import Settings
from shared.store.mongo import ServiceDatabase, connect_mongo, utcnow
from shared.web.idempotency import MAX_STORED_BODY, IdempotencyMiddleware, IdempotencyStore

BIG = 5 * 1024 * 1024
CHUNK = 64 * 1024
TOKEN_A = "Bearer tenant-a-token"
TOKEN_B = "Bearer tenant-b-token"


@dataclass
class Harness:
    db: ServiceDatabase
    store: IdempotencyStore
    client: httpx.AsyncClient = field(init=False)
    calls: dict[str, int] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    chunk_sizes: list[int] = field(default_factory=list)

    def count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    async def post(
        self,
        path: str,
        key: str | None = "k-1",
        *,
        auth: str = TOKEN_A,
        method: str = "POST",
        **kwargs: object,
    ) -> httpx.Response:
        headers = {"Authorization": auth}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]

    async def records(self) -> list[dict[str, object]]:
        return await self.store.collection.find({}).to_list()


def build_app(h: Harness) -> FastAPI:
    api = FastAPI()

    @api.post("/things", status_code=201)
    async def create_thing(request: Request) -> JSONResponse:
        payload = await request.json()
        h.count("things")
        thing_id = uuid.uuid4().hex
        await h.db["things"].insert_one({"_id": thing_id, **payload})
        n = await h.db["things"].count_documents({})
        return JSONResponse(
            {"id": thing_id, "n": n}, status_code=201, headers={"Location": f"/things/{thing_id}"}
        )

    @api.get("/things")
    async def list_things() -> dict[str, int]:
        h.count("list")
        return {"n": await h.db["things"].count_documents({})}

    @api.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: str) -> Response:
        h.count("delete")
        await h.db["things"].delete_one({"_id": thing_id})
        return Response(status_code=204)

    @api.post("/flaky", status_code=201)
    async def flaky() -> JSONResponse:
        if h.count("flaky") == 1:
            return JSONResponse({"error": {"code": "boom", "message": "boom"}}, status_code=500)
        return JSONResponse({"attempt": h.calls["flaky"]}, status_code=201)

    @api.post("/crashy", status_code=201)
    async def crashy() -> dict[str, int]:
        if h.count("crashy") == 1:
            raise RuntimeError("crash on the first attempt")
        return {"attempt": h.calls["crashy"]}

    @api.post("/throttled")
    async def throttled() -> JSONResponse:
        h.count("throttled")
        return JSONResponse(
            {"error": {"code": "rate_limited", "message": "slow down"}},
            status_code=429,
            headers={"Retry-After": "3"},
        )

    @api.post("/slow", status_code=201)
    async def slow() -> dict[str, int]:
        h.count("slow")
        h.entered.set()
        await h.gate.wait()
        return {"done": 1}

    @api.post("/blob", status_code=201)
    async def blob(request: Request) -> dict[str, object]:
        h.count("blob")
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return {"size": size, "sha256": digest.hexdigest()}

    @api.post("/huge", status_code=201)
    async def huge() -> dict[str, object]:
        h.count("huge")
        return {"data": "x" * (MAX_STORED_BODY + 10)}

    return api


def spy(app: ASGIApp, sizes: list[int]) -> ASGIApp:
    """Between the middleware and the app: the size of every request-body message delivered."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def spying_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sizes.append(len(message.get("body", b"")))
            return message

        await app(scope, spying_receive, send)

    return wrapped


@pytest.fixture
async def h(settings: Settings) -> AsyncIterator[Harness]:
    mongo = connect_mongo(settings)
    db = ServiceDatabase(mongo, settings.database_name("ingest"))
    store = IdempotencyStore(db)
    await store.ensure_indexes()
    harness = Harness(db=db, store=store)
    app = IdempotencyMiddleware(spy(build_app(harness), harness.chunk_sizes), store)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    harness.client = httpx.AsyncClient(transport=transport, base_url="http://aviary.test")
    try:
        yield harness
    finally:
        await harness.client.aclose()
        await mongo.close()


async def big_body(tweak: bool = False) -> AsyncIterator[bytes]:
    """5 MB in 64 KB chunks, made as they are sent (nothing holds the whole body)."""
    for i in range(BIG // CHUNK):
        chunk = bytes([i % 251]) * CHUNK
        if tweak and i == BIG // CHUNK - 1:
            chunk = chunk[:-1] + b"!"
        yield chunk


async def test_same_key_twice_runs_once_and_replays_exactly(h: Harness) -> None:
    first = await h.post("/things", json={"name": "a"})
    second = await h.post("/things", json={"name": "a"})

    assert first.status_code == 201
    assert first.json()["n"] == 1
    assert "idempotent-replay" not in first.headers
    assert second.status_code == 201
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["idempotent-replay"] == "true"
    assert h.calls["things"] == 1
    assert await h.db["things"].count_documents({}) == 1


async def test_record_keeps_neither_key_nor_token_in_clear(h: Harness) -> None:
    await h.post("/things", key="very-visible-key", json={"name": "a"})
    [record] = await h.records()
    text = repr(record)
    assert "very-visible-key" not in text
    assert "tenant-a-token" not in text
    assert record["state"] == "done"
    assert record["status"] == 201


async def test_same_key_with_another_body_is_rejected(h: Harness) -> None:
    assert (await h.post("/things", json={"name": "a"})).status_code == 201
    reused = await h.post("/things", json={"name": "b"})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert reused.json()["error"]["message"] == "this key was used for a different request"
    assert h.calls["things"] == 1


async def test_same_key_on_another_path_or_query_is_rejected(h: Harness) -> None:
    assert (await h.post("/things", json={"name": "a"})).status_code == 201
    other_query = await h.post("/things?x=1", json={"name": "a"})
    assert other_query.status_code == 422
    assert h.calls["things"] == 1


async def test_another_credential_with_the_same_key_runs_again(h: Harness) -> None:
    a = await h.post("/things", json={"name": "a"}, auth=TOKEN_A)
    b = await h.post("/things", json={"name": "a"}, auth=TOKEN_B)
    assert a.status_code == b.status_code == 201
    assert a.json()["n"] == 1
    assert b.json()["n"] == 2
    assert "idempotent-replay" not in b.headers
    assert h.calls["things"] == 2
    assert len(await h.records()) == 2


async def test_concurrent_duplicates_run_once_and_the_other_gets_409(h: Harness) -> None:
    first = asyncio.create_task(h.post("/slow", json={}))
    await asyncio.wait_for(h.entered.wait(), 10)
    second = asyncio.create_task(h.post("/slow", json={}))
    done, _ = await asyncio.wait({first, second}, timeout=10, return_when="FIRST_COMPLETED")
    assert done == {second}
    h.gate.set()
    responses = await asyncio.gather(first, second)

    assert sorted(r.status_code for r in responses) == [201, 409]
    conflict = second.result()
    assert conflict.json()["error"]["code"] == "idempotency_key_in_progress"
    assert conflict.headers["retry-after"] == "1"
    assert h.calls["slow"] == 1
    replay = await h.post("/slow", json={})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replay"] == "true"


async def test_gathered_duplicates_one_201_one_409(h: Harness) -> None:
    async def release_when_one_answers() -> None:
        await asyncio.wait_for(h.entered.wait(), 10)
        # The duplicate is answered without waiting on the gate; let it arrive first.
        while not any(r.startswith("409") for r in statuses):
            await asyncio.sleep(0.01)
        h.gate.set()

    statuses: list[str] = []

    async def call() -> httpx.Response:
        response = await h.post("/slow", json={})
        statuses.append(str(response.status_code))
        return response

    a, b, _ = await asyncio.wait_for(asyncio.gather(call(), call(), release_when_one_answers()), 20)
    assert sorted([a.status_code, b.status_code]) == [201, 409]
    assert h.calls["slow"] == 1


async def test_a_5xx_is_not_stored_and_the_retry_runs(h: Harness) -> None:
    failed = await h.post("/flaky", json={})
    assert failed.status_code == 500
    assert await h.records() == []
    retried = await h.post("/flaky", json={})
    assert retried.status_code == 201
    assert retried.json() == {"attempt": 2}
    assert "idempotent-replay" not in retried.headers
    replay = await h.post("/flaky", json={})
    assert replay.json() == {"attempt": 2}
    assert replay.headers["idempotent-replay"] == "true"
    assert h.calls["flaky"] == 2


async def test_an_app_exception_is_not_stored_and_the_retry_runs(h: Harness) -> None:
    crashed = await h.post("/crashy", json={})
    assert crashed.status_code == 500
    assert await h.records() == []
    retried = await h.post("/crashy", json={})
    assert retried.status_code == 201
    assert retried.json() == {"attempt": 2}


async def test_a_429_is_not_stored(h: Harness) -> None:
    assert (await h.post("/throttled", json={})).status_code == 429
    assert (await h.post("/throttled", json={})).status_code == 429
    assert h.calls["throttled"] == 2
    assert await h.records() == []


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "tab\there", "caf\u00e9".encode().decode("latin-1"), "nl\x7f"]
)
async def test_an_invalid_key_is_400(h: Harness, key: str) -> None:
    response = await h.client.post(
        "/things",
        json={"name": "a"},
        headers=[(b"Idempotency-Key", key.encode("latin-1"))],
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert "things" not in h.calls


async def test_two_key_headers_are_400(h: Harness) -> None:
    response = await h.client.post(
        "/things",
        json={"name": "a"},
        headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert response.status_code == 400


async def test_longest_key_is_accepted(h: Harness) -> None:
    key = "k" * 254 + "~"
    assert (await h.post("/things", key=key, json={"name": "a"})).status_code == 201
    assert (await h.post("/things", key=key, json={"name": "a"})).headers["idempotent-replay"]


async def test_get_with_a_key_passes_through(h: Harness) -> None:
    for _ in range(2):
        response = await h.post("/things", method="GET")
        assert response.status_code == 200
        assert "idempotent-replay" not in response.headers
    assert h.calls["list"] == 2
    assert await h.records() == []


async def test_without_the_header_every_request_runs(h: Harness) -> None:
    first = await h.post("/things", key=None, json={"name": "a"})
    second = await h.post("/things", key=None, json={"name": "a"})
    assert first.json()["n"] == 1
    assert second.json()["n"] == 2
    assert await h.records() == []


async def test_delete_with_a_key_is_replayed(h: Harness) -> None:
    for _ in range(2):
        response = await h.post("/things/abc", method="DELETE", key="del-1")
        assert response.status_code == 204
    assert h.calls["delete"] == 1
    assert response.headers["idempotent-replay"] == "true"


async def test_a_large_response_is_not_stored(h: Harness) -> None:
    first = await h.post("/huge", json={})
    assert first.status_code == 201
    assert len(first.content) > MAX_STORED_BODY
    assert await h.records() == []
    second = await h.post("/huge", json={})
    assert second.status_code == 201
    assert "idempotent-replay" not in second.headers
    assert h.calls["huge"] == 2


async def test_a_stale_in_progress_record_is_taken_over(h: Harness) -> None:
    record_id = h.store.record_id(TOKEN_A.encode(), "k-1")
    past = utcnow() - timedelta(seconds=1)
    await h.store.collection.insert_one(
        {"_id": record_id, "state": "in_progress", "owner": "dead", "expires_at": past}
    )
    response = await h.post("/things", json={"name": "a"})
    assert response.status_code == 201
    assert h.calls["things"] == 1


async def test_a_5mb_body_streams_through_and_its_replay_is_recognised(h: Harness) -> None:
    expected = hashlib.sha256()
    async for chunk in big_body():
        expected.update(chunk)

    first = await h.post("/blob", content=big_body())
    assert first.status_code == 201
    assert first.json() == {"size": BIG, "sha256": expected.hexdigest()}
    # The app saw the body in the client's chunks, not one assembled 5 MB message.
    assert max(h.chunk_sizes) == CHUNK
    assert sum(h.chunk_sizes) == BIG

    # The replay reads and hashes the body itself; it must not hold it in memory either.
    tracemalloc.start()
    try:
        replay = await h.post("/blob", content=big_body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert replay.status_code == 201
    assert replay.headers["idempotent-replay"] == "true"
    assert replay.content == first.content
    assert peak < BIG // 2
    assert h.calls["blob"] == 1

    changed = await h.post("/blob", content=big_body(tweak=True))
    assert changed.status_code == 422
    assert h.calls["blob"] == 1
