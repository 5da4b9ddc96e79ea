"""The thin slice through all four services, as real processes over RabbitMQ."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest

from aviary.client.config import Endpoints
from aviary_devkit.processes import ServiceSet
from aviary_devkit.sim.checks import coco_problems
from aviary_devkit.sim.flow import Flow, FlowConfig, FlowResult, wrong_on_purpose
from aviary_devkit.sim.scenes import generate_scenes

pytestmark = pytest.mark.e2e


def endpoints(services: ServiceSet) -> Endpoints:
    return Endpoints(*(services.url(n) for n in ("ingest", "dispatch", "review", "export")))


def flow(services: ServiceSet, tmp_path: Path, **config: object) -> Flow:
    cfg = FlowConfig(deliveries_dir=tmp_path, timeout_s=180, **config)  # type: ignore[arg-type]
    key = services.settings.operator_key.get_secret_value()
    return Flow(endpoints(services), key, cfg, progress=lambda _: None)


def check_delivery(result: FlowResult, tmp_path: Path) -> None:
    with zipfile.ZipFile(result.zip_path) as zf:
        coco_path = Path(zf.extract("coco/annotations.json", tmp_path / "unzipped"))
    assert coco_problems(result, coco_path) == []
    assert result.manifest["counts"]["images"] == len(result.truth)


async def test_pushed_images_end_in_a_verified_coco_delivery(
    services: ServiceSet, tmp_path: Path
) -> None:
    config = {"images": 8, "error_rate": 0.4, "seed": 3}
    expected_wrong = sum(
        wrong_on_purpose(s, FlowConfig(**config))  # type: ignore[arg-type]
        for s in generate_scenes(8, first_seed=3)
    )
    assert expected_wrong >= 1, "the seed must make some first attempts wrong"
    f = flow(services, tmp_path, **config)
    try:
        result = await f.run()
    finally:
        await f.close()
    check_delivery(result, tmp_path)
    # Every wrong first attempt was rejected by review and came back as rework.
    assert result.stats.rejected == expected_wrong
    assert result.stats.submissions == 8 + expected_wrong


@pytest.mark.parametrize("victim", ["ingest", "dispatch", "review", "export"])
async def test_sigkill_of_a_service_mid_flow_still_delivers_every_image_once(
    services: ServiceSet, tmp_path: Path, victim: str
) -> None:
    f = flow(services, tmp_path, images=16, error_rate=0.25, seed=11)
    run = asyncio.create_task(f.run())

    # Strike while that service has work in flight.
    def busy() -> bool:
        if victim == "ingest":
            return f.stats.uploaded >= 4
        if victim == "export":
            return f.stats.accepted >= 4
        return f.stats.submissions >= 4

    try:
        for _ in range(600):
            if busy() or run.done():
                break
            await asyncio.sleep(0.05)
        assert not run.done(), "the flow ended before the fault could be injected"
        services.kill(victim)
        await asyncio.sleep(0.5)
        services.start(victim)
        await asyncio.to_thread(services.wait_ready, victim)
        result = await run
    finally:
        await f.close()
    check_delivery(result, tmp_path)
