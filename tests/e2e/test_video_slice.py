"""Video through all four services as processes, driven by the simulation: floor and street
videos with known tracks, clip tasks keyframed by simulated annotators (some wrong on purpose
and sent back by review), and a delivery whose stitched MOT tracks match the truth."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from aviary_devkit.processes import ServiceSet
from aviary_devkit.sim.video_flow import VideoFlowConfig, mot_problems, run_video_flow
from tests.e2e.test_slice import endpoints

pytestmark = pytest.mark.e2e


async def test_floor_and_street_videos_end_in_stitched_tracks_that_match_the_truth(
    services: ServiceSet, tmp_path: Path
) -> None:
    config = VideoFlowConfig(
        images=2, frames=120, error_rate=0.5, seed=5, deliveries_dir=tmp_path, timeout_s=180
    )
    key = services.settings.operator_key.get_secret_value()
    result, scenes = await run_video_flow(endpoints(services), key, config, lambda _: None)
    assert mot_problems(result.zip_path, scenes) == []
    clips = 2 * 3  # 120 frames in clips of 60 overlapping by 6: 0-60, 54-114, 108-120
    assert result.stats.accepted == clips
    assert result.stats.rejected == result.stats.wrong_submissions >= 1
    assert result.stats.submissions == clips + result.stats.wrong_submissions
    counts = result.manifest["counts"]
    assert (counts["videos"], counts["tracks"]) == (2, 3 + 4)  # a floor's objects, a street's

    # The check finds a track broken in two, and a track that drifted off its object.
    broken = tmp_path / "broken.zip"
    shutil.copy(result.zip_path, broken)
    item_id = next(iter(scenes))
    name = f"mot/{item_id}/gt/gt.txt"
    with zipfile.ZipFile(result.zip_path) as zf:
        rows = zf.read(name).decode().splitlines()
    first, second, _ = sorted({int(row.split(",")[1]) for row in rows})  # numbered per package
    spoiled = []
    for row in rows:
        f, t, x, *rest = row.split(",")
        if int(t) == first and int(f) > 60:
            t = "99"  # one object's track, broken at frame 60
        if int(t) == second:
            x = str(float(x) + 200)  # another's, 200 px off
        spoiled.append(",".join([f, t, x, *rest]))
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr(name, "\n".join(spoiled))
    problems = mot_problems(broken, {item_id: scenes[item_id]})
    assert any("4 tracks for 3 objects" in p for p in problems)
    assert sum("mean IoU" in p for p in problems) >= 2  # the broken one and the shifted one
