"""The SDK's retry behaviour, against a scripted transport (pure client logic)."""

from __future__ import annotations

import httpx
import pytest

from aviary.client import AsyncClient, AviaryError
from aviary.client.config import Endpoints

ITEM = {
    "id": "itm_1",
    "batch_id": "bat_1",
    "project_id": "prj_1",
    "file_name": "a.jpg",
    "sha256": "0" * 64,
    "width": 640,
    "height": 480,
    "format": "jpeg",
    "size_bytes": 10,
}


def scripted(responses: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    return httpx.MockTransport(handle)


async def test_writes_are_retried_on_503_and_429_with_one_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    transport = scripted(
        [
            httpx.Response(
                503,
                headers={"retry-after": "0"},
                json={"error": {"code": "unavailable", "message": "down"}},
            ),
            httpx.Response(429, headers={"retry-after": "0"}),
            httpx.Response(201, json=ITEM),
        ],
        seen,
    )
    async with AsyncClient("t", Endpoints(), transport=transport, backoff_s=0) as client:
        item = await client.upload("bat_1", b"bytes", "a.jpg")
    assert item.id == "itm_1"
    keys = {r.headers["idempotency-key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1  # the retries are the same write
    assert seen[0].headers["authorization"] == "Bearer t"


async def test_refusals_raise_with_the_api_code_and_are_not_retried() -> None:
    seen: list[httpx.Request] = []
    transport = scripted(
        [
            httpx.Response(
                415,
                json={
                    "error": {
                        "code": "not_an_image",
                        "message": "the upload is not a readable image",
                    }
                },
            )
        ],
        seen,
    )
    async with AsyncClient("t", Endpoints(), transport=transport, backoff_s=0) as client:
        with pytest.raises(AviaryError) as raised:
            await client.upload("bat_1", b"text", "a.jpg")
    assert (raised.value.status, raised.value.code) == (415, "not_an_image")
    assert len(seen) == 1


async def test_retries_give_up_after_the_limit() -> None:
    seen: list[httpx.Request] = []
    transport = scripted([httpx.Response(503, headers={"retry-after": "0"})] * 3, seen)
    async with AsyncClient("t", Endpoints(), transport=transport, retries=2, backoff_s=0) as client:
        with pytest.raises(AviaryError) as raised:
            await client.get_batch("bat_1")
    assert raised.value.status == 503 and len(seen) == 3
    assert "idempotency-key" not in seen[0].headers  # reads need none
