"""A lean route answers every request exactly as FastAPI's own handling of the same route.

One app serves the same endpoints twice, under /std (FastAPI's route class) and /lean
(`LeanRoute`), with the services' error handlers; each request below goes to both and the
answers (status, body, content type) must be equal.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import AppError
from shared.web.app import _install_error_handlers
from shared.web.leanroute import LeanRoute


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")
    class_id: int = Field(ge=1)
    bbox: list[float] = Field(min_length=4, max_length=4)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_id: str = Field(min_length=1, max_length=10)
    shapes: list[Shape] = []


class Out(BaseModel):
    task_id: str
    wait_s: float
    shapes: int


async def caller(request: Request) -> str:
    token = request.headers.get("authorization", "")
    if not token.startswith("Bearer "):
        raise AppError("unauthorized", "missing bearer token", status_code=401)
    if token == "Bearer reviewer":
        raise AppError("forbidden", "role reviewer may not do this", status_code=403)
    return token.removeprefix("Bearer ")


Caller = Annotated[str, Depends(caller)]
Wait = Annotated[float, Query(ge=0, le=30)]


async def submit(task_id: str, body: Body, who: Caller) -> Out:
    return Out(task_id=f"{task_id}:{who}", wait_s=0, shapes=len(body.shapes))


async def next_task(who: Caller, wait_s: Wait = 0) -> Out | Response:
    if wait_s == 7:
        return Response(status_code=204)
    return Out(task_id=who, wait_s=wait_s, shapes=0)


async def release(task_id: str, body: Body, who: Caller) -> None:
    if task_id == "gone":
        raise AppError("lease_lost", "the lease has expired", status_code=409)


def app() -> FastAPI:
    api = FastAPI()
    _install_error_handlers(api)
    for prefix, route_class in (("/std", APIRouter().route_class), ("/lean", LeanRoute)):
        router = APIRouter(prefix=prefix, route_class=route_class)
        router.post("/tasks/{task_id}/submit", response_model=Out)(submit)
        router.post("/tasks/next", response_model=Out)(next_task)
        router.post("/tasks/{task_id}/release", status_code=204)(release)
        api.include_router(router)
    return api


GOOD = {"lease_id": "l1", "shapes": [{"class_id": 1, "bbox": [1, 2, 3, 4]}]}
JSON = {"content-type": "application/json"}
AUTH = {"authorization": "Bearer ann"}
SUBMITS: list[tuple[str, dict[str, str], bytes]] = [
    ("valid", {**AUTH, **JSON}, json.dumps(GOOD).encode()),
    ("json with charset", {**AUTH, "content-type": "application/json; charset=utf-8"}, b"{}"),
    ("vendor json type", {**AUTH, "content-type": "application/vnd.x+json"}, b'{"lease_id":"a"}'),
    ("no body", {**AUTH, **JSON}, b""),
    ("empty object", {**AUTH, **JSON}, b"{}"),
    ("truncated json", {**AUTH, **JSON}, b'{"lease_id": "l'),
    ("binary", {**AUTH, **JSON}, b"\xff\xfe\x00"),
    ("not an object", {**AUTH, **JSON}, b"[1, 2]"),
    ("nested deep", {**AUTH, **JSON}, b"[" * 100_000 + b"]" * 100_000),
    ("no content type", AUTH, json.dumps(GOOD).encode()),
    ("text content type", {**AUTH, "content-type": "text/plain"}, json.dumps(GOOD).encode()),
    ("extra field", {**AUTH, **JSON}, json.dumps({**GOOD, "x": 1}).encode()),
    ("bad shape", {**AUTH, **JSON}, b'{"lease_id": "l", "shapes": [{"class_id": 0, "bbox": []}]}'),
    ("lease too long", {**AUTH, **JSON}, json.dumps({"lease_id": "x" * 11}).encode()),
    (
        "nan",
        {**AUTH, **JSON},
        b'{"lease_id": "l", "shapes": [{"class_id": 1, "bbox": [NaN,1,2,3]}]}',
    ),
    ("no credential", JSON, json.dumps(GOOD).encode()),
    ("no credential, bad json", JSON, b"{"),
    ("wrong role", {"authorization": "Bearer reviewer", **JSON}, json.dumps(GOOD).encode()),
]
NEXTS: list[tuple[str, str, dict[str, str]]] = [
    ("default wait", "", AUTH),
    ("a wait", "?wait_s=2.5", AUTH),
    ("answered by a response", "?wait_s=7", AUTH),
    ("negative", "?wait_s=-1", AUTH),
    ("too long", "?wait_s=31", AUTH),
    ("not a number", "?wait_s=soon", AUTH),
    ("empty", "?wait_s=", AUTH),
    ("repeated", "?wait_s=1&wait_s=2", AUTH),
    ("unknown parameter", "?other=1", AUTH),
    ("no credential", "?wait_s=31", {}),
]


async def both(method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        std = await client.request(method, "/std" + path, **kwargs)
        lean = await client.request(method, "/lean" + path, **kwargs)
    return std, lean


def same(std: httpx.Response, lean: httpx.Response) -> None:
    assert (lean.status_code, lean.headers.get("content-type")) == (
        std.status_code,
        std.headers.get("content-type"),
    )
    assert lean.content == std.content


@pytest.mark.parametrize(("name", "headers", "body"), SUBMITS, ids=[c[0] for c in SUBMITS])
async def test_submit_answers_as_fastapi_does(
    name: str, headers: dict[str, str], body: bytes
) -> None:
    std, lean = await both("POST", "/tasks/t1/submit", headers=headers, content=body)
    same(std, lean)


@pytest.mark.parametrize(("name", "query", "headers"), NEXTS, ids=[c[0] for c in NEXTS])
async def test_query_parameters_and_responses_as_fastapi_does(
    name: str, query: str, headers: dict[str, str]
) -> None:
    std, lean = await both("POST", "/tasks/next" + query, headers=headers)
    same(std, lean)


@pytest.mark.parametrize("task_id", ["t1", "gone"])
async def test_a_route_without_a_body_to_answer_as_fastapi_does(task_id: str) -> None:
    std, lean = await both(
        "POST", f"/tasks/{task_id}/release", headers={**AUTH, **JSON}, content=b'{"lease_id": "l"}'
    )
    same(std, lean)
    assert std.status_code == (204 if task_id == "t1" else 409)


async def test_the_cases_above_do_reach_every_outcome() -> None:
    """Not a vacuous comparison: valid calls succeed, and each kind of refusal occurs."""
    statuses = set()
    for _, headers, body in SUBMITS:
        std, _ = await both("POST", "/tasks/t1/submit", headers=headers, content=body)
        statuses.add(std.status_code)
    assert statuses >= {200, 400, 401, 403, 422}


def test_a_parameter_it_cannot_fill_is_refused_when_the_app_is_built() -> None:
    async def odd(x: int) -> Out:
        raise AssertionError("never called")

    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match="cannot fill parameter x"):
        router.post("/odd")(odd)
