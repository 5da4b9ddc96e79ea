"""The browser's interpolation (web/common/tracks.js) gives the worked-out shapes the server's
does (tests/corpus/tracks/interpolation.json), run by Node on the very file the pages load."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_tracks import CASES, close

ROOT = Path(__file__).parents[2]
SCRIPT = """
import { shapeAt, TrackSet } from "%s";
const cases = JSON.parse(process.argv[1]);
const out = cases.map((c) => Object.fromEntries(
  Object.keys(c.expect).map((f) => [f, shapeAt(c.track, Number(f))])));
const set = new TrackSet();
const id = set.add(0, { kind: "bbox", class_id: 1, bbox: [0, 0, 10, 10] });
set.setKeyframe(id, { frame: 10, shape: { kind: "bbox", class_id: 1, bbox: [100, 0, 10, 10] } });
set.leave(id, 15);
const other = set.add(4, { kind: "bbox", class_id: 2, bbox: [5, 5, 5, 5] });
set.leave(other, 4);
const next = [[0, 1], [10, 1], [10, -1], [15, 1]].map(([f, s]) => set.nextKeyframe(f, s));
console.log(JSON.stringify({ cases: out, set: set.toJSON(), at5: set.at(5), next }));
"""


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is missing (make install needs it for the pages' type checker)"
    module = (ROOT / "web" / "common" / "tracks.js").as_uri()
    done = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT % module, json.dumps(CASES)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("n", range(len(CASES)), ids=[c["name"] for c in CASES])
def test_the_browser_interpolates_as_the_server_does(results: dict[str, Any], n: int) -> None:
    for frame, expected in CASES[n]["expect"].items():
        got = results["cases"][n][frame]
        if expected is None:
            assert got is None, f"frame {frame}"
            continue
        assert got is not None, f"frame {frame}"
        for field, value in expected.items():
            have = got[field] if field in ("keyframe", "occluded") else got["shape"][field]
            assert close(have, value), f"frame {frame} {field}: {have} != {value}"


def test_the_track_set_keeps_keyframes_in_order_and_leaves(results: dict[str, Any]) -> None:
    (track,) = results["set"]["tracks"]  # the other left where it began: removed
    assert [(k["frame"], k.get("outside", False)) for k in track["keyframes"]] == [
        (0, False),
        (10, False),
        (15, True),
    ]
    (at5,) = results["at5"]
    assert at5["shape"]["bbox"] == [50, 0, 10, 10] and at5["keyframe"] is False
    assert results["next"] == [10, 15, 0, None]
