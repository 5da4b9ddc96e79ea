"""Per-credential rate limits on a real service (ingest, in process, real Mongo and broker)."""

from __future__ import annotations

import asyncio

import httpx

from shared.settings import Settings
from tests.support import ingest_in_process, operator_headers


async def test_a_key_over_its_rate_gets_429_with_retry_after_and_others_do_not(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_s": 1.0, "rate_limit_burst": 3})
    async with ingest_in_process(limited) as http:
        op = operator_headers(limited)
        other = {"Authorization": "Bearer av1.someone.else"}

        async def create() -> httpx.Response:
            return await http.post("/v1/orgs", json={"name": "c", "kind": "client"}, headers=op)

        assert [(await create()).status_code for _ in range(3)] == [201, 201, 201]
        refused = await create()
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 2
        # Another credential has its own bucket; health checks are never limited.
        assert (await http.get("/v1/orgs", headers=other)).status_code == 401
        assert all([(await http.get("/healthz")).status_code == 200 for _ in range(10)])
        # Static pages are not counted either (ingest serves none: 404, not 429).
        assert {(await http.get("/ui/x.js", headers=op)).status_code for _ in range(5)} == {404}
        # The refused call stored nothing: three organisations exist.
        await asyncio.sleep(retry_after)
        orgs = await http.get("/v1/orgs", headers=op)
        assert orgs.status_code == 200 and len(orgs.json()) == 3
