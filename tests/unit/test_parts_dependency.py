"""A service's parts reach its routes as typed dependencies (shared/web/deps.py PartsOf)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.web.deps import PartsOf


@dataclass(frozen=True)
class Parts:
    units: list[str]


parts = PartsOf(Parts)
PartsDep = Annotated[Parts, Depends(parts.get)]
UnitsDep = Annotated[list[str], Depends(parts.part(lambda p: p.units))]


def app_with(state: object) -> FastAPI:
    app = FastAPI()
    app.state.parts = state

    @app.get("/units")
    async def units(everything: PartsDep, units: UnitsDep) -> dict[str, object]:
        return {"all": everything.units, "one": units}

    return app


async def get(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/units")


async def test_a_route_gets_the_parts_and_one_part_of_them() -> None:
    response = await get(app_with(Parts(["u1"])))
    assert response.status_code == 200
    assert response.json() == {"all": ["u1"], "one": ["u1"]}


async def test_parts_of_another_kind_are_refused_not_handed_on() -> None:
    assert (await get(app_with({"units": ["u1"]}))).status_code == 500
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(parts="x")))
    with pytest.raises(TypeError, match="not Parts"):
        await parts.get(request)  # type: ignore[arg-type]
